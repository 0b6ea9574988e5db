import { render } from 'preact';
import './styles.css';
import { App, preload, resolve } from './App';
import { startRouter } from './router';
import { restore } from './session';

startRouter();
void restore();
const first = resolve(location.pathname).route;
first.warm?.();
void preload(first).catch(() => undefined);
render(<App />, document.getElementById('app') as HTMLElement);
