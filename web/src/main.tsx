import { render } from 'preact';
import './styles.css';
import { App } from './App';
import { startRouter } from './router';
import { restore } from './session';

startRouter();
void restore();
render(<App />, document.getElementById('app') as HTMLElement);
