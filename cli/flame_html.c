/* flame_html.c — the interactive flame graph page of `heapscope flame`: one
 * self-contained HTML file (inline CSS, script and data; no network) with
 * click-to-zoom, search and hover detail.  The data are the tree's frames
 * as [name, depth, start, value, self] in value units; the script lays them
 * out as nested intervals.  Single-threaded; libc only. */
#include <stdlib.h>
#include <string.h>

#include "flame.h"

/* Writes s as a JSON string that is also safe inside an HTML <script>. */
static void write_script_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
    else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&') fprintf(out, "\\u%04x", *p);
    else fputc(*p, out);
  }
  fputc('"', out);
}

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width\">\n<title>heapscope flame graph</title>\n"
    "<style>\n"
    "body{margin:0;padding:10px;font:13px Verdana,sans-serif;background:#f8f8f4;color:#222}\n"
    "h1{font-size:16px;margin:0 0 8px 0;font-weight:normal}\n"
    "#bar{display:flex;gap:10px;align-items:center;margin-bottom:8px;flex-wrap:wrap}\n"
    "#bar input{font:inherit;padding:2px 4px;width:220px}\n"
    "#bar button{font:inherit}\n"
    ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;"
    "vertical-align:middle}\n"
    "#chart{width:100%;overflow:hidden}\n"
    "#chart svg{display:block}\n"
    "#chart g{cursor:pointer}\n"
    "#chart g:hover rect{stroke:#000;stroke-width:0.7}\n"
    "#chart text{font-size:12px;pointer-events:none;fill:#000}\n"
    "#detail{min-height:18px;margin-top:6px;font-family:monospace;white-space:pre}\n"
    "</style></head><body>\n"
    "<h1 id=\"title\"></h1>\n"
    "<div id=\"bar\"><label>Search <input id=\"search\" placeholder=\"regex, e.g. ^main\\\\.\" "
    "autocomplete=\"off\"></label><button id=\"reset\" hidden>Reset zoom</button>"
    "<span id=\"matched\"></span><span class=\"legend\" id=\"legend\"></span></div>\n"
    "<div id=\"chart\"></div>\n<div id=\"detail\">Hover over a frame for detail; click to zoom."
    "</div>\n<script>\n";

static const char page_script[] =
    "'use strict';\n"
    "const F = DATA.frames, N = F.length / 5, H = 17;\n"
    "const svgNS = 'http://www.w3.org/2000/svg';\n"
    "let zoom = 0, search = null;\n"
    "const byteUnits = [['TiB',1099511627776],['GiB',1073741824],['MiB',1048576],['KiB',1024],['B',1]];\n"
    "const countUnits = [['G',1e9],['M',1e6],['k',1e3],['',1]];\n"
    "function fmt(v) {\n"
    "  const units = DATA.unit === 'bytes' ? byteUnits : countUnits;\n"
    "  for (const [s, f] of units) if (Math.abs(v) >= f || f === 1) {\n"
    "    if (f === 1) return String(v) + s;\n"
    "    return (v / f).toFixed(2).replace(/\\.00$/, '') + s;\n"
    "  }\n"
    "}\n"
    "function pct(v, t) { return t ? (100 * v / t).toFixed(2) + '%' : '0%'; }\n"
    "function nameOf(i) { return DATA.names[F[5 * i]]; }\n"
    "const maxDepth = (() => { let d = 0; for (let i = 0; i < N; i++) d = Math.max(d, F[5 * i + 1]); return d; })();\n"
    "function matches(i) { return search !== null && search.test(nameOf(i)); }\n"
    "function render() {\n"
    "  const chart = document.getElementById('chart');\n"
    "  const width = Math.max(chart.clientWidth, 200);\n"
    "  const height = (maxDepth + 1) * H + 4;\n"
    "  const svg = document.createElementNS(svgNS, 'svg');\n"
    "  svg.setAttribute('width', width); svg.setAttribute('height', height);\n"
    "  const zd = F[5 * zoom + 1], zs = F[5 * zoom + 2], zv = F[5 * zoom + 3];\n"
    "  if (!zv) { chart.textContent = 'No samples with a positive value.'; return; }\n"
    "  const scale = width / zv;\n"
    "  for (let i = 0; i < N; i++) {\n"
    "    const d = F[5 * i + 1], s = F[5 * i + 2], v = F[5 * i + 3];\n"
    "    let x, w;\n"
    "    if (d < zd) {\n"
    "      if (s > zs || s + v < zs + zv) continue;\n"
    "      x = 0; w = width;\n"
    "    } else {\n"
    "      if (s < zs || s + v > zs + zv) continue;\n"
    "      x = (s - zs) * scale; w = v * scale;\n"
    "    }\n"
    "    if (w < 0.5) continue;\n"
    "    const g = document.createElementNS(svgNS, 'g');\n"
    "    g.dataset.i = i;\n"
    "    const y = height - (d + 1) * H;\n"
    "    const r = document.createElementNS(svgNS, 'rect');\n"
    "    r.setAttribute('x', x); r.setAttribute('y', y);\n"
    "    r.setAttribute('width', Math.max(w - 0.5, 0.5)); r.setAttribute('height', H - 1);\n"
    "    r.setAttribute('rx', 2);\n"
    "    r.setAttribute('fill', matches(i) ? 'rgb(230,0,230)' : DATA.colours[F[5 * i]]);\n"
    "    if (d < zd) r.setAttribute('fill-opacity', '0.5');\n"
    "    const title = document.createElementNS(svgNS, 'title');\n"
    "    title.textContent = nameOf(i) + ' (' + fmt(v) + ', ' + pct(v, DATA.total) + ')';\n"
    "    g.appendChild(title); g.appendChild(r);\n"
    "    const fits = Math.floor((w - 6) / 7);\n"
    "    if (fits >= 3) {\n"
    "      const t = document.createElementNS(svgNS, 'text');\n"
    "      t.setAttribute('x', x + 3); t.setAttribute('y', y + 12);\n"
    "      const n = nameOf(i);\n"
    "      t.textContent = n.length > fits ? n.slice(0, fits - 2) + '..' : n;\n"
    "      g.appendChild(t);\n"
    "    }\n"
    "    svg.appendChild(g);\n"
    "  }\n"
    "  chart.replaceChildren(svg);\n"
    "  document.getElementById('reset').hidden = zoom === 0;\n"
    "  document.body.dataset.zoom = zoom === 0 ? '' : nameOf(zoom);\n"
    "}\n"
    "function detail(i) {\n"
    "  const v = F[5 * i + 3], self = F[5 * i + 4];\n"
    "  return nameOf(i) + '  ' + DATA.type + ' ' + fmt(v) + ' (' + pct(v, DATA.total) + ' of total)'\n"
    "    + '  self ' + fmt(self) + '  [' + DATA.moduleNames[DATA.modules[F[5 * i]]] + ']';\n"
    "}\n"
    "function frameOf(event) {\n"
    "  const g = event.target.closest ? event.target.closest('g') : null;\n"
    "  return g && g.dataset.i !== undefined ? Number(g.dataset.i) : -1;\n"
    "}\n"
    "const chart = document.getElementById('chart');\n"
    "chart.addEventListener('click', e => { const i = frameOf(e); if (i >= 0) { zoom = i; render(); } });\n"
    "chart.addEventListener('mouseover', e => { const i = frameOf(e);\n"
    "  if (i >= 0) document.getElementById('detail').textContent = detail(i); });\n"
    "document.getElementById('reset').addEventListener('click', () => { zoom = 0; render(); });\n"
    "document.addEventListener('keydown', e => { if (e.key === 'Escape') { zoom = 0; render(); } });\n"
    "document.getElementById('search').addEventListener('input', e => {\n"
    "  const text = e.target.value;\n"
    "  if (!text) search = null;\n"
    "  else { try { search = new RegExp(text, 'i'); } catch (err) {\n"
    "    search = new RegExp(text.replace(/[.*+?^${}()|[\\]\\\\]/g, '\\\\$&'), 'i'); } }\n"
    "  let covered = 0, end = -1;\n"
    "  if (search) {\n"
    "    const spans = [];\n"
    "    for (let i = 1; i < N; i++) if (matches(i)) spans.push([F[5 * i + 2], F[5 * i + 3]]);\n"
    "    spans.sort((a, b) => a[0] - b[0]);\n"
    "    for (const [s, v] of spans) { const lo = Math.max(s, end); if (s + v > lo) covered += s + v - lo;"
    " end = Math.max(end, s + v); }\n"
    "  }\n"
    "  document.getElementById('matched').textContent = search ? 'matched ' + fmt(covered) + ' (' +"
    " pct(covered, DATA.total) + ')' : '';\n"
    "  render();\n"
    "});\n"
    "document.getElementById('title').textContent = DATA.title;\n"
    "document.getElementById('legend').innerHTML = DATA.moduleNames.map((m, k) =>\n"
    "  '<span style=\"background:' + DATA.moduleColours[k] + '\"></span>' + m).join('');\n"
    "window.addEventListener('resize', render);\n"
    "render();\n"
    "</script></body></html>\n";

int flame_write_html(FILE *out, const flame_tree *tree, int64_t min_value, const char *title) {
  const analysis *a = tree->a;
  int64_t *starts = flame_frame_starts(tree);
  int32_t *name_index = malloc((a->node_count + 1) * sizeof *name_index);
  if (!starts || !name_index) {
    free(starts);
    free(name_index);
    return -1;
  }
  for (size_t i = 0; i < a->node_count; i++) name_index[i] = -1;
  fputs(page_head, out);
  fputs("const DATA = {\"title\":", out);
  write_script_string(out, title);
  fputs(",\"type\":", out);
  write_script_string(out, a->sample_type);
  fputs(",\"unit\":", out);
  write_script_string(out, a->unit);
  fprintf(out, ",\"total\":%lld,\n\"moduleNames\":[\"program\",\"libc\",\"system libraries\","
               "\"heapscope\"],\"moduleColours\":[",
          (long long)tree->frames[0].value);
  for (int m = 0; m < ANALYSIS_MODULE_COUNT; m++) {
    char colour[32];
    flame_colour((analysis_module)m, "", colour, sizeof colour);
    fprintf(out, "%s\"%s\"", m ? "," : "", colour);
  }
  /* names, colours and modules of the nodes drawn, in first-use order */
  int32_t names = 1;
  fputs("],\n\"names\":[\"all\"", out);
  for (size_t i = 1; i < tree->count; i++) {
    const flame_frame *frame = &tree->frames[i];
    if (frame->value < min_value || name_index[frame->node] >= 0) continue;
    name_index[frame->node] = names++;
    fputc(',', out);
    write_script_string(out, a->nodes[frame->node].name);
  }
  char colour[32];
  flame_colour(ANALYSIS_MODULE_USER, "all", colour, sizeof colour);
  fprintf(out, "],\n\"colours\":[\"%s\"", colour);
  /* second pass in the same order */
  int32_t emitted = 1;
  for (size_t i = 1; i < tree->count && emitted < names; i++) {
    const flame_frame *frame = &tree->frames[i];
    if (frame->value < min_value || name_index[frame->node] != emitted) continue;
    const analysis_node *node = &a->nodes[frame->node];
    flame_colour(node->module, node->name, colour, sizeof colour);
    fprintf(out, ",\"%s\"", colour);
    emitted++;
  }
  fputs("],\n\"modules\":[0", out);
  emitted = 1;
  for (size_t i = 1; i < tree->count && emitted < names; i++) {
    const flame_frame *frame = &tree->frames[i];
    if (frame->value < min_value || name_index[frame->node] != emitted) continue;
    fprintf(out, ",%d", (int)a->nodes[frame->node].module);
    emitted++;
  }
  fputs("],\n\"frames\":[", out);
  for (size_t i = 0; i < tree->count; i++) {
    const flame_frame *frame = &tree->frames[i];
    if (frame->value < min_value && i != 0) continue;
    int64_t self = frame->value;
    for (uint32_t child = frame->first_child; child; child = tree->frames[child].next_sibling)
      self -= tree->frames[child].value;
    fprintf(out, "%s%d,%u,%lld,%lld,%lld", i ? ",\n" : "", i == 0 ? 0 : name_index[frame->node],
            frame->depth, (long long)starts[i], (long long)frame->value, (long long)self);
  }
  fputs("]};\n", out);
  fputs(page_script, out);
  free(starts);
  free(name_index);
  return 0;
}
