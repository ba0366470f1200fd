/**
 * Per-connection charts on canvas (no chart library): bytes in flight, the
 * congestion window, the peer's advertised window and our receive window
 * over virtual time, as step lines (a value holds until the next sample).
 * The scale fits bytes in flight and cwnd; the windows (often 1 MiB) are
 * clipped at the top and come into view when they shrink, e.g. while the
 * receiver paused with setRecvEnabled(false). The line under each chart
 * gives the current values. Samples come from App.sample(); a chart is
 * redrawn only when its series changed. Each canvas carries a summary of
 * what it draws as data attributes (data-conn, data-samples, and the
 * maximum and latest value of each line, e.g. data-in-flight-max), for
 * tests and for anyone inspecting the page.
 */
import type { App, ConnView, Series } from './app.js';
import { byId, el, formatBytes } from './dom.js';

const WIDTH = 380;
const HEIGHT = 150;
const PAD = { left: 52, right: 8, top: 8, bottom: 20 };
const MAX_CHARTS = 8;

const LINES: {
  key: keyof Omit<Series, 't' | 'version'>;
  label: string;
  colour: string;
  dash?: number[];
}[] = [
  { key: 'inFlight', label: 'in flight', colour: '#1f6feb' },
  { key: 'cwnd', label: 'cwnd', colour: '#d97706' },
  { key: 'sendWindow', label: 'peer window', colour: '#16a34a' },
  { key: 'receiveWindow', label: 'our window', colour: '#6b7280', dash: [4, 3] },
];

interface Chart {
  figure: HTMLElement;
  canvas: HTMLCanvasElement;
  caption: HTMLElement;
  values: HTMLElement;
  drawn: number;
}

export class Charts {
  readonly #app: App;
  readonly #root: HTMLElement;
  readonly #charts = new Map<ConnView, Chart>();
  #log: unknown;

  constructor(app: App) {
    this.#app = app;
    this.#root = byId('charts');
    const legend = byId('chart-legend');
    for (const l of LINES)
      legend.append(el('span', { class: 'legend-item', style: `--c: ${l.colour}` }, l.label));
  }

  render(): void {
    if (this.#app.packets !== this.#log) {
      this.#log = this.#app.packets;
      this.#charts.clear();
      this.#root.replaceChildren();
    }
    const wanted = this.#app.conns.filter((c) => c.series.t.length >= 2).slice(-MAX_CHARTS);
    for (const [cv, chart] of this.#charts) {
      if (!wanted.includes(cv)) {
        chart.figure.remove();
        this.#charts.delete(cv);
      }
    }
    for (const cv of wanted) {
      let chart = this.#charts.get(cv);
      if (!chart) {
        chart = this.#create(cv);
        this.#charts.set(cv, chart);
        this.#root.append(chart.figure);
      }
      const caption = `${cv.key} ${cv.role} · ${cv.state}`;
      if (chart.caption.textContent !== caption) chart.caption.textContent = caption;
      const s = cv.series;
      if (chart.drawn !== s.version) {
        chart.drawn = s.version;
        draw(chart.canvas, s);
        describe(chart.canvas, s);
        const last = s.t.length - 1;
        chart.values.textContent = LINES.map(
          (l) => `${l.label} ${formatBytes(s[l.key][last] ?? 0)}`,
        ).join(' · ');
      }
    }
  }

  #create(cv: ConnView): Chart {
    const canvas = el('canvas', { width: WIDTH, height: HEIGHT, 'data-conn': cv.key });
    const ratio = window.devicePixelRatio || 1;
    canvas.width = WIDTH * ratio;
    canvas.height = HEIGHT * ratio;
    canvas.style.width = `${WIDTH}px`;
    canvas.style.height = `${HEIGHT}px`;
    const caption = el('figcaption', {});
    const values = el('div', { class: 'chart-values' });
    const figure = el('figure', { class: 'chart' }, caption, canvas, values);
    return { figure, canvas, caption, values, drawn: -1 };
  }
}

function draw(canvas: HTMLCanvasElement, s: Series): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const ratio = canvas.width / WIDTH;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, WIDTH, HEIGHT);
  const t0 = s.t[0]!;
  const t1 = Math.max(s.t[s.t.length - 1]!, t0 + 1);
  let top = 0;
  for (const v of s.inFlight) if (v > top) top = v;
  for (const v of s.cwnd) if (v > top) top = v;
  top = niceCeil(top * 1.25);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * plotW;
  const y = (v: number) => PAD.top + plotH - (Math.min(v, top) / top) * plotH;

  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = '#6b7280';
  ctx.strokeStyle = '#e5e7eb';
  ctx.lineWidth = 1;
  ctx.setLineDash([]);
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(PAD.left, yy);
    ctx.lineTo(WIDTH - PAD.right, yy);
    ctx.stroke();
    ctx.textAlign = 'right';
    ctx.fillText(formatBytes(v), PAD.left - 4, yy + 3);
  }
  ctx.textAlign = 'left';
  ctx.fillText(`${(t0 / 1000).toFixed(2)} s`, PAD.left, HEIGHT - 6);
  ctx.textAlign = 'right';
  ctx.fillText(`${(t1 / 1000).toFixed(2)} s`, WIDTH - PAD.right, HEIGHT - 6);

  for (const l of LINES) {
    const values = s[l.key];
    ctx.strokeStyle = l.colour;
    ctx.lineWidth = 1.5;
    ctx.setLineDash(l.dash ?? []);
    ctx.beginPath();
    stepLine(ctx, s.t, values, x, y);
    ctx.stroke();
  }
}

/** Writes the series' summary on the canvas: sample count, time span, each line's max and latest value. */
function describe(canvas: HTMLCanvasElement, s: Series): void {
  const d = canvas.dataset;
  d.samples = String(s.t.length);
  d.t0 = String(s.t[0] ?? 0);
  d.t1 = String(s.t[s.t.length - 1] ?? 0);
  for (const l of LINES) {
    const values = s[l.key];
    let max = 0;
    for (const v of values) if (v > max) max = v;
    d[`${l.key}Max`] = String(max);
    d[`${l.key}Last`] = String(values[values.length - 1] ?? 0);
  }
}

/**
 * Adds a step line to the path with at most a few segments per pixel
 * column: samples that fall in one column become a vertical bar from their
 * lowest to their highest value, so spikes stay visible and a long bulk
 * transfer (thousands of samples) draws as fast as a short one.
 */
function stepLine(
  ctx: CanvasRenderingContext2D,
  t: number[],
  values: number[],
  x: (t: number) => number,
  y: (v: number) => number,
): void {
  let prev = values[0]!;
  let col = Math.round(x(t[0]!));
  let lo = prev;
  let hi = prev;
  ctx.moveTo(col, y(prev));
  for (let i = 1; i < t.length; i++) {
    const c = Math.round(x(t[i]!));
    const v = values[i]!;
    if (c === col) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      prev = v;
      continue;
    }
    if (lo !== hi) {
      ctx.lineTo(col, y(lo));
      ctx.lineTo(col, y(hi));
    }
    ctx.lineTo(col, y(prev));
    ctx.lineTo(c, y(prev));
    ctx.lineTo(c, y(v));
    col = c;
    lo = hi = prev = v;
  }
  if (lo !== hi) {
    ctx.lineTo(col, y(lo));
    ctx.lineTo(col, y(hi));
  }
  ctx.lineTo(col, y(prev));
}

/** The smallest power of two >= v, at least 4 KiB. */
function niceCeil(v: number): number {
  let step = 4096;
  while (step < v) step *= 2;
  return step;
}
