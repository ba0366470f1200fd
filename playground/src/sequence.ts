/**
 * The sequence diagram (SVG): A's and B's lifelines with one arrow per
 * recent packet, sloping from sender to receiver, labelled with TCP flags
 * and relative sequence/ack numbers as a capture tool shows them. Lost
 * packets stop halfway with a cross; retransmissions, duplicates and
 * corrupted copies are coloured; connection state changes appear between
 * the packets on the side where they happened.
 */
import { tcpdumpFlags } from '../../src/index.js';
import type { App } from './app.js';
import { byId, svg } from './dom.js';
import type { PacketNote, PacketRecord } from './packet-log.js';

const PACKETS = 40;
const WIDTH = 760;
const X = { A: 190, B: 610 } as const;
const TOP = 40;
const ROW = 22;
const NOTE_ROW = 16;
const SLOPE = 14;

export class SequenceDiagram {
  readonly #app: App;
  readonly #root: SVGSVGElement;
  #version = -1;
  #log: unknown;

  constructor(app: App) {
    this.#app = app;
    this.#root = byId('sequence') as unknown as SVGSVGElement;
  }

  render(): void {
    const log = this.#app.packets;
    if (log === this.#log && log.version === this.#version) return;
    this.#log = log;
    this.#version = log.version;
    const records = log.records.slice(-PACKETS);
    const first = records[0]?.n ?? log.total + 1;
    const notes = log.notes.filter((n) => n.after >= first - 1);

    const items: ({ kind: 'packet'; r: PacketRecord } | { kind: 'note'; n: PacketNote })[] = [];
    let ni = 0;
    for (const r of records) {
      while (ni < notes.length && notes[ni]!.after < r.n)
        items.push({ kind: 'note', n: notes[ni++]! });
      items.push({ kind: 'packet', r });
    }
    while (ni < notes.length) items.push({ kind: 'note', n: notes[ni++]! });

    let height = TOP + 10;
    for (const it of items) height += it.kind === 'packet' ? ROW : NOTE_ROW;
    height = Math.max(height + SLOPE, 160);

    const nodes = this.#app.nodes;
    const parts: SVGElement[] = [defs()];
    for (const side of ['A', 'B'] as const) {
      parts.push(
        svg(
          'text',
          { x: X[side], y: 16, class: 'lifeline-label', 'text-anchor': 'middle' },
          `${side}  ${nodes[side].ipv4}`,
        ),
        svg('line', { x1: X[side], y1: 24, x2: X[side], y2: height, class: 'lifeline' }),
      );
    }
    parts.push(svg('text', { x: 4, y: 16, class: 'axis-label' }, 'virtual ms'));
    let y = TOP;
    for (const it of items) {
      if (it.kind === 'note') {
        y += NOTE_ROW;
        const n = it.n;
        const right = n.side === 'B';
        parts.push(
          svg(
            'text',
            {
              x: right ? X.B - 8 : X.A + 8,
              y: y - 4,
              class: 'note',
              'text-anchor': right ? 'end' : 'start',
            },
            n.text,
          ),
        );
        continue;
      }
      y += ROW;
      parts.push(arrow(it.r, y));
    }
    this.#root.setAttribute('viewBox', `0 0 ${WIDTH} ${height}`);
    this.#root.replaceChildren(...parts);
  }
}

function defs(): SVGElement {
  const d = svg('defs', {});
  for (const [id, cls] of [
    ['head', 'arrowhead'],
    ['head-retx', 'arrowhead retx'],
  ] as const) {
    const m = svg('marker', {
      id,
      viewBox: '0 0 10 10',
      refX: 9,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: 'auto-start-reverse',
    });
    m.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: cls }));
    d.append(m);
  }
  return d;
}

function arrow(r: PacketRecord, y: number): SVGElement {
  const from = r.dir === 'ab' ? X.A : X.B;
  const to = r.dir === 'ab' ? X.B : X.A;
  const g = svg('g', { class: classes(r), 'data-n': r.n });
  g.append(svg('text', { x: 4, y: y + 4, class: 'time' }, r.time.toFixed(1)));
  const y2 = y + SLOPE;
  if (r.status === 'dropped') {
    const mx = from + (to - from) * 0.55;
    const my = y + SLOPE * 0.55;
    g.append(
      svg('line', { x1: from, y1: y, x2: mx, y2: my, class: 'wire' }),
      svg('path', {
        d: `M${mx - 5},${my - 5} L${mx + 5},${my + 5} M${mx - 5},${my + 5} L${mx + 5},${my - 5}`,
        class: 'cross',
      }),
    );
  } else {
    g.append(
      svg('line', {
        x1: from,
        y1: y,
        x2: to,
        y2,
        class: 'wire',
        'marker-end': r.retx ? 'url(#head-retx)' : 'url(#head)',
      }),
    );
  }
  g.append(
    svg(
      'text',
      { x: (X.A + X.B) / 2, y: y + SLOPE / 2 - 4, class: 'label', 'text-anchor': 'middle' },
      label(r),
    ),
  );
  return g;
}

function classes(r: PacketRecord): string {
  const c = ['packet'];
  if (r.retx) c.push('retx');
  if (r.status === 'dropped') c.push('dropped');
  if (r.copies > 1) c.push('dup');
  if (r.corrupted) c.push('corrupted');
  return c.join(' ');
}

function label(r: PacketRecord): string {
  const p = r.parsed;
  const t = p?.tcp;
  if (!p || !t) return p ? `IPv${p.version} proto ${p.protocol}` : `${r.length} bytes`;
  const rel = (n: number, isn: number | undefined) => (isn === undefined ? n : (n - isn) >>> 0);
  const parts = [`[${tcpdumpFlags(t.flags)}]`, `seq ${rel(t.seq, r.isn)}`];
  if (t.flags.ack) parts.push(`ack ${rel(t.ack, r.ackIsn)}`);
  parts.push(`win ${t.window}`);
  if (t.payloadLength > 0) parts.push(`len ${t.payloadLength}`);
  if (r.retx) parts.push('(retx)');
  if (r.status === 'dropped')
    parts.push(`— ${r.reason === 'loss' ? 'lost' : `dropped (${r.reason})`}`);
  if (r.copies > 1) parts.push(`×${r.copies}`);
  if (r.corrupted) parts.push('(corrupted)');
  return parts.join(' ');
}
