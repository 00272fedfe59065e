// kvs-infer's operator page: the camera wall, a camera's detail, the events
// and the ROI editor. Plain DOM, no framework, served from the binary. Every
// value from the API goes in through textContent or attributes, never HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const api = (path) => fetch('/api/v1/' + path, { cache: 'no-store' });
const enc = encodeURIComponent;
let cameras = [];
let timer = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

// Swaps an <img> to a fresh snapshot without reloading the page; keeps the
// last one while the camera has no new frame (503) or is gone.
const blobs = new WeakMap();
async function refreshImage(img, camera) {
  try {
    const r = await api('cameras/' + enc(camera) + '/snapshot.jpg');
    if (!r.ok) return false;
    const url = URL.createObjectURL(await r.blob());
    const old = blobs.get(img);
    img.src = url;
    blobs.set(img, url);
    if (old) URL.revokeObjectURL(old);
    img.dataset.frames = String(Number(img.dataset.frames || 0) + 1);
    return true;
  } catch (e) { return false; }
}

async function loadCameras() {
  try {
    const r = await api('cameras');
    if (!r.ok) { $('status').textContent = 'API: ' + r.status; return; }
    cameras = (await r.json()).cameras;
    $('status').textContent = cameras.length + ' camera(s)';
  } catch (e) { $('status').textContent = 'offline'; }
}

// ---- the camera wall ----
function card(c) {
  let d = document.querySelector(`.cam[data-name="${CSS.escape(c.name)}"]`);
  if (!d) {
    d = el('div', { class: 'cam', 'data-name': c.name, onclick: () => { location.hash = '#/camera/' + enc(c.name); } },
      el('img', { alt: c.name }),
      el('div', { class: 'meta' }, el('strong', {}, c.name), el('span', { class: 'badge' }), el('span', { class: 'stats muted' })));
    $('wall').append(d);
  }
  const badge = d.querySelector('.badge');
  badge.textContent = c.state;
  badge.className = 'badge ' + c.state;
  d.querySelector('.stats').textContent =
    `${c.analysed_fps.toFixed(1)} fps · ${c.dropped} dropped · ${c.errors} errors · ${c.events} events`;
  return d;
}

async function wallTick() {
  await loadCameras();
  const names = new Set(cameras.map((c) => c.name));
  for (const d of document.querySelectorAll('.cam')) if (!names.has(d.dataset.name)) d.remove();
  await Promise.all(cameras.map((c) => refreshImage(card(c).querySelector('img'), c.name)));
}

// ---- a camera's detail ----
function drawPolygons(canvas, img, polys) {
  canvas.width = img.clientWidth;
  canvas.height = img.clientHeight;
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  for (const p of polys) {
    if (!p.points.length) continue;
    g.strokeStyle = p.exclude ? '#ff5252' : '#4ea1ff';
    g.fillStyle = p.exclude ? 'rgba(255,82,82,.15)' : 'rgba(78,161,255,.15)';
    g.lineWidth = 2;
    g.beginPath();
    p.points.forEach(([x, y], i) => (i ? g.lineTo : g.moveTo).call(g, x * canvas.width, y * canvas.height));
    if (p.points.length > 2) g.closePath();
    g.fill();
    g.stroke();
    for (const [x, y] of p.points) g.fillRect(x * canvas.width - 3, y * canvas.height - 3, 6, 6);
    if (p.name) {
      g.fillStyle = '#fff';
      g.fillText(p.name, p.points[0][0] * canvas.width + 4, p.points[0][1] * canvas.height - 4);
    }
  }
}

// An event's fields as text whatever a line of events.jsonl holds: only
// strings and numbers are shown (an object's toString is never called).
const str = (v) => (typeof v === 'string' ? v : typeof v === 'number' && isFinite(v) ? String(v) : '?');
function eventRow(e) {
  const id = encodeURIComponent(str(e.event_id));
  const thumb = Array.isArray(e.crops) && e.crops.length ? 'crop-0.jpg' : typeof e.snapshot === 'string' ? 'snapshot.jpg' : '';
  // An event without images (an archive's, a hostile line's) asks for none.
  const img = thumb ? el('img', { alt: str(e.label), loading: 'lazy', src: `/api/v1/events/${id}/${thumb}` })
    : el('span', { class: 'noimg muted' }, 'no image');
  if (thumb) img.addEventListener('click', () => {
    $('viewer-img').src = `/api/v1/events/${id}/snapshot.jpg`;
    showClip(id, e.clip);
    $('viewer').showModal();
  });
  const plate = e.plate && typeof e.plate.text === 'string' ? ' ' + e.plate.text : '';
  const conf = typeof e.confidence === 'number' ? (e.confidence * 100).toFixed(0) + ' %' : '? %';
  return el('div', { class: 'event', 'data-id': str(e.event_id) }, img,
    el('div', {}, el('strong', {}, `${str(e.label)}${plate}`), ` ${conf} · ${str(e.camera_name)}`,
      el('br'), el('span', { class: 'muted' }, `${str(e.detected_at)} · ${str(e.detector)} · track ${str(e.track_id)}`)));
}
// The event's clip under its snapshot (docs/publishing.md "Clips"): played
// from the local sink once written; until then, or without a local copy, a
// note says so.
function showClip(id, clip) {
  const v = $('viewer-clip'), note = $('viewer-clip-note');
  v.pause();
  v.removeAttribute('src');
  v.hidden = true;
  note.hidden = true;
  if (!clip || typeof clip !== 'object') return;
  const say = (text) => { note.textContent = text; note.hidden = false; };
  // The local sink keeps a copy beside the S3 one when the camera has both.
  const where = typeof clip.key === 'string' ? ` (S3: ${str(clip.bucket)}/${str(clip.key)})` : '';
  v.onerror = () => { v.hidden = true; say('no local copy of the clip yet (it follows the post-roll)' + where); };
  if (clip.kvs && typeof clip.kvs === 'object') kvsClip(id, v, note, say);
  v.src = `/api/v1/events/${id}/clip.mp4`;
  v.hidden = false;
}
// clip.from kvs: the same <video> plays it (the API fetches it with GetClip);
// the note offers an ON_DEMAND HLS link of the range, asked for on click.
function kvsClip(id, v, note, say) {
  v.onerror = () => { v.hidden = true; say('the KVS archive has no video for this range (not yet written, or expired)'); };
  const a = el('a', { href: '#' }, 'HLS link from the KVS archive');
  a.onclick = async (ev) => {
    if (a.dataset.url) return;
    ev.preventDefault();
    const r = await api(`events/${id}/clip-hls`);
    const j = await r.json().catch(() => ({}));
    if (!r.ok || typeof j.url !== 'string') { a.textContent = `no HLS link: ${str(j.error)}`; return; }
    a.href = a.dataset.url = j.url;
    a.textContent = 'open the HLS stream (valid for an hour)';
    a.target = '_blank';
  };
  note.replaceChildren(a);
  note.hidden = false;
}
// Rows for a list of events; one that cannot be shown is left out, not the list.
function eventRows(list) {
  const rows = [];
  for (const e of Array.isArray(list) ? list : []) {
    try { if (e && typeof e === 'object') rows.push(eventRow(e)); } catch (err) { /* skip it */ }
  }
  return rows;
}

async function detailTick(name) {
  await loadCameras();
  const c = cameras.find((x) => x.name === name);
  if (!c) { $('detail-name').textContent = name + ' (no such camera)'; return; }
  $('detail-name').textContent = `${c.name} — ${c.state}, ${c.source}`;
  $('detail-roi-link').href = '#/roi/' + enc(c.name);
  const dets = $('detail-detectors');
  dets.replaceChildren(...c.detectors.map((d) => el('li', {},
    `${d.type}${d.enabled ? '' : ' (disabled)'} · threshold ${d.threshold === null ? '—' : d.threshold.toFixed(2)} · ${d.model || 'no model'}` +
    (d.roi.length ? ' · zones ' + d.roi.join(', ') : ''))));
  $('detail-zone-list').replaceChildren(...c.roi.map((z) => el('li', {}, `${z.name}${z.exclude ? ' (exclude)' : ''}: ${z.polygon.length} points`)));
  const img = $('detail-img');
  // Drawn once the new frame is laid out (its size is known only then).
  img.onload = () => drawPolygons($('detail-zones'), img, c.roi.map((z) => ({ name: z.name, exclude: z.exclude, points: z.polygon })));
  await refreshImage(img, name);
  const r = await api('events?limit=10&camera=' + enc(name));
  if (r.ok) $('detail-events').replaceChildren(...eventRows((await r.json()).events));
}

// ---- events ----
let nextBefore = null;
async function loadEvents(more) {
  const cam = $('filter-camera').value, label = $('filter-label').value.trim();
  const since = $('filter-since').value, until = $('filter-until').value, plate = $('filter-plate').value.trim();
  let q = 'events?limit=30';
  if (cam) q += '&camera=' + enc(cam);
  if (label) q += '&label=' + enc(label);
  // datetime-local is the browser's local time; the API takes UTC.
  if (since) q += '&since=' + enc(new Date(since).toISOString());
  if (until) q += '&until=' + enc(new Date(new Date(until).getTime() + 59999).toISOString()); // the whole minute
  if (plate) q += '&plate=' + enc(plate) + ($('filter-fuzzy').checked ? '&fuzzy=1' : '');
  if (more && nextBefore) q += '&before=' + enc(nextBefore);
  const r = await api(q);
  if (!r.ok) return;
  const page = await r.json();
  const rows = eventRows(page.events);
  if (more) $('event-list').append(...rows); else $('event-list').replaceChildren(...rows);
  nextBefore = page.next_before;
  $('event-more').hidden = !nextBefore;
}

async function showEvents() {
  await loadCameras();
  const sel = $('filter-camera'), keep = sel.value;
  sel.replaceChildren(el('option', { value: '' }, 'any'), ...cameras.map((c) => el('option', { value: c.name }, c.name)));
  sel.value = keep;
  await loadEvents(false);
}

// ---- the ROI editor ----
// The camera's configured zones are shown and kept in the YAML, so what is
// pasted as the camera's roi: list adds the new zone instead of replacing them.
const roi = { camera: '', points: [], existing: [] };
function zoneYaml(z) {
  const safe = /^[A-Za-z0-9_.-]+$/.test(z.name) ? z.name : JSON.stringify(z.name);
  const pts = z.points.map(([x, y]) => `[${x.toFixed(4)}, ${y.toFixed(4)}]`).join(', ');
  return `  - {name: ${safe}, polygon: [${pts}]${z.exclude ? ', exclude: true' : ''}}\n`;
}
function roiNew() {
  return { name: $('roi-zone').value.trim() || 'zone1', exclude: $('roi-kind').value === 'exclude', points: roi.points };
}
function roiYaml() {
  const zones = roi.existing.concat(roi.points.length >= 3 ? [roiNew()] : []);
  if (!zones.length) return 'Click at least three points on the frame.';
  const hint = roi.points.length >= 3 ? '' : '# Click at least three points on the frame to add a zone.\n';
  return 'roi:\n' + zones.map(zoneYaml).join('') + hint;
}
function roiRedraw() {
  drawPolygons($('roi-canvas'), $('roi-img'), roi.existing.concat([roiNew()]));
  $('roi-yaml').textContent = roiYaml();
}
// The camera's zones as the API gives them (polygons in fractions).
async function roiLoadZones(name) {
  await loadCameras();
  const c = cameras.find((x) => x.name === name);
  roi.existing = c ? c.roi.map((z) => ({ name: z.name, exclude: z.exclude, points: z.polygon })) : [];
  const items = roi.existing.map((z) => el('li', {}, `${z.name}${z.exclude ? ' (exclude)' : ''}: ${z.points.length} points`));
  $('roi-existing').replaceChildren(...(items.length ? items : [el('li', { class: 'muted' }, 'none')]));
}
function roiClick(ev) {
  const img = $('roi-img');
  const box = img.getBoundingClientRect();
  const x = (ev.clientX - box.left) / box.width, y = (ev.clientY - box.top) / box.height;
  if (x < 0 || x > 1 || y < 0 || y > 1) return;
  roi.points.push([x, y]);
  roiRedraw();
}
async function showRoi(name) {
  if (roi.camera !== name) roi.points = [];
  roi.camera = name;
  $('roi-name').textContent = 'Zone editor: ' + name;
  await roiLoadZones(name);
  const img = $('roi-img');
  img.onload = roiRedraw;
  if (!(await refreshImage(img, name))) setTimeout(() => { if (location.hash.startsWith('#/roi/')) showRoi(name); }, 1000);
  roiRedraw();
}

// ---- publishers' health ----
async function publishersTick() {
  try {
    const r = await api('publishers');
    if (!r.ok) { $('status').textContent = 'API: ' + r.status; return; }
    const rows = (await r.json()).publishers.map((p) => el('tr', { 'data-name': p.name },
      el('td', {}, p.name),
      el('td', {}, el('span', { class: 'badge ' + (p.healthy ? 'running' : 'failed') },
        p.healthy ? 'ok' : 'failing since ' + p.failing_since)),
      el('td', {}, p.last_success || 'never'),
      el('td', { class: 'backlog' }, String(p.backlog)),
      el('td', { class: 'dead' }, String(p.dead_letters)),
      el('td', { class: 'muted' }, p.last_error || '')));
    $('pub-rows').replaceChildren(...rows);
  } catch (e) { $('status').textContent = 'offline'; }
}

// ---- routing ----
function show(id) {
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== id;
  $('nav-wall').classList.toggle('active', id === 'wall' || id === 'detail');
  $('nav-events').classList.toggle('active', id === 'events');
  $('nav-publishers').classList.toggle('active', id === 'publishers');
}
function every(ms, fn) {
  clearInterval(timer);
  fn();
  timer = setInterval(fn, ms);
}
function route() {
  // A snapshot belongs to the view it was opened from, not the next one.
  if ($('viewer').open) $('viewer').close();
  const h = location.hash || '#/';
  const [, view, arg] = h.match(/^#\/([a-z]*)\/?(.*)$/) || [];
  const name = arg ? decodeURIComponent(arg) : '';
  if (view === 'camera' && name) { show('detail'); every(1000, () => detailTick(name)); }
  else if (view === 'events') { show('events'); clearInterval(timer); showEvents(); }
  else if (view === 'publishers') { show('publishers'); every(2000, publishersTick); }
  else if (view === 'roi' && name) { show('roi'); clearInterval(timer); showRoi(name); }
  else { show('wall'); every(1000, wallTick); }
}

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => {
  $('event-filter').addEventListener('submit', (e) => { e.preventDefault(); loadEvents(false); });
  $('event-more').addEventListener('click', () => loadEvents(true));
  $('roi-canvas').addEventListener('click', roiClick);
  $('roi-undo').addEventListener('click', () => { roi.points.pop(); roiRedraw(); });
  $('roi-clear').addEventListener('click', () => { roi.points = []; roiRedraw(); });
  $('roi-zone').addEventListener('input', roiRedraw);
  $('roi-kind').addEventListener('change', roiRedraw);
  $('roi-copy').addEventListener('click', async () => {
    try { await navigator.clipboard.writeText($('roi-yaml').textContent); $('roi-copy').textContent = 'Copied'; }
    catch (e) { getSelection().selectAllChildren($('roi-yaml')); }
  });
  window.addEventListener('resize', () => { if (!$('roi').hidden) roiRedraw(); });
  route();
});
