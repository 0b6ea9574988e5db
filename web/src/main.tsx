import { render } from 'preact';
import './styles.css';
import { App, preload, resolve } from './App';
import { deviceId } from './api/client';
import { startRouter } from './router';
import { restore } from './session';

startRouter();
// This browser's device id is made at start, not at the first playback: tabs share it through
// localStorage, which reaches other tabs a moment late, so two tabs that made theirs as they
// both started playing could count as two devices and the second be refused a stream (429).
deviceId();
void restore();
const first = resolve(location.pathname).route;
first.warm?.();
void preload(first).catch(() => undefined);
render(<App />, document.getElementById('app') as HTMLElement);
