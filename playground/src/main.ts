/**
 * The playground's entry point (bundled by playground/build.ts): compiles
 * lwip.wasm once from next to the page, builds the App (two stacks on an
 * impaired link in virtual time), mounts the views and starts the time
 * loop. When everything is up, <body data-ready="true">; a failure shows
 * in the error banner and sets data-ready="error".
 *
 * window.lwipPlayground gives scripts (and the Chromium test) the app and
 * the scenario runner, so they drive the very code the page runs.
 */
import { App } from './app.js';
import { Charts } from './charts.js';
import { Controls } from './controls.js';
import { byId, el } from './dom.js';
import { PacketList } from './packet-list.js';
import { PcapDownload } from './pcap.js';
import { runBuiltIn, ScenarioPanel, type ScenarioResult } from './scenario.js';
import { SequenceDiagram } from './sequence.js';
import { TimeControls } from './time.js';

declare global {
  interface Window {
    lwipPlayground?: {
      app: App;
      time: TimeControls;
      runScenario(name: string, seed: number): Promise<ScenarioResult>;
    };
  }
}

const RENDER_EVERY_MS = 100;

function showError(error: unknown): void {
  console.error(error);
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const banner = byId('errors');
  banner.append(el('div', {}, text));
  banner.hidden = false;
}

async function main(): Promise<void> {
  // The library's own default would fetch the same file; compiling it here
  // once lets every stack of every reset share the module.
  const response = await fetch(new URL('lwip.wasm', document.baseURI));
  if (!response.ok) throw new Error(`lwip.wasm: HTTP ${response.status}`);
  const wasm = await WebAssembly.compileStreaming(response);
  const app = await App.create({ wasm, seed: 1 });

  // Views redraw at most RENDER_EVERY_MS apart: the DOM work of a 60 Hz
  // redraw would take the time the simulation needs in a bulk transfer.
  const views: { render(): void }[] = [];
  let rendered = -Infinity;
  const render = () => {
    const now = performance.now();
    if (now - rendered < RENDER_EVERY_MS) return;
    rendered = now;
    for (const v of views) v.render();
  };
  const time = new TimeControls(app, render, showError);
  // The packet list goes first: it may set a scroll position, which lays
  // out what changed so far, and so far nothing else has.
  views.push(
    new PacketList(app),
    new Controls(app, time, showError),
    new SequenceDiagram(app),
    new Charts(app),
    new PcapDownload(app),
  );
  new ScenarioPanel(showError);
  window.lwipPlayground = { app, time, runScenario: runBuiltIn };
  time.start();
  document.body.dataset.ready = 'true';
}

window.addEventListener('error', (e) => showError(e.error ?? e.message));
window.addEventListener('unhandledrejection', (e) => showError(e.reason));
main().catch((error: unknown) => {
  showError(error);
  document.body.dataset.ready = 'error';
});
