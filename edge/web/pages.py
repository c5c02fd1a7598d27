"""The console's HTML and status data. Technician-facing, English: it shows machine codes as they are logged.

The status data is assembled from the service's public reporting calls only (`status()`, `uplink.state()`,
`outbox.health()`, `recent_decisions()`), each a snapshot taken under the room's own lock: nothing here waits
on a lane.
"""

from __future__ import annotations

import html
import json
from typing import Any

from edge.web.context import WebContext

_STYLE = """
body { font-family: sans-serif; margin: 1em; background: #111; color: #eee; }
h1, h2 { font-weight: normal; } table { border-collapse: collapse; margin-bottom: 1em; }
td, th { border: 1px solid #444; padding: 2px 8px; text-align: left; font-size: 90%; }
.lane { display: inline-block; vertical-align: top; margin: 0 1em 1em 0; }
.lane img { width: 480px; image-rendering: pixelated; border: 1px solid #444; }
.ok { color: #6c6; } pre { white-space: pre-wrap; max-width: 640px; } details { margin-top: 0.5em; } .bad { color: #f66; } form { display: inline; }
"""


def _doc(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def login_page(*, configured: bool, failed: bool = False) -> str:
    note = ""
    if not configured:
        note = (
            '<p class="bad" id="no-credentials">No console password is configured '
            "(web.console.credentials_file): every login is refused.</p>"
        )
    elif failed:
        note = '<p class="bad" id="login-failed">Login refused.</p>'
    return _doc(
        "checkpoint-edge console: login",
        "<h1>checkpoint-edge technician console</h1>"
        + note
        + '<form method="post" action="/login"><label>Password '
        '<input type="password" name="password" id="password" autofocus></label> '
        '<button type="submit" id="login">Log in</button></form>',
    )


_CONSOLE_SCRIPT = """
const lanes = JSON.parse(document.getElementById('lanes').textContent);
function refreshImages() {
  for (const lane of lanes) {
    const img = document.getElementById('live-' + lane);
    fetch('/lane/' + encodeURIComponent(lane) + '/live.jpg', {cache: 'no-store'}).then(async r => {
      if (r.status === 401) { location.href = '/login'; return; }
      if (!r.ok) return;
      const frame = r.headers.get('X-Frame-Seq');
      const url = URL.createObjectURL(await r.blob());
      const old = img.src; img.src = url; img.dataset.frame = frame;
      img.dataset.faces = r.headers.get('X-Faces');
      if (old.startsWith('blob:')) URL.revokeObjectURL(old);
    }).catch(() => {});
  }
}
function row(cells) { return '<tr>' + cells.map(c => '<td>' + String(c ?? '') + '</td>').join('') + '</tr>'; }
function esc(s) { const d = document.createElement('div'); d.textContent = String(s ?? ''); return d.innerHTML; }
async function refreshStatus() {
  const r = await fetch('/api/status');
  if (r.status === 401) { location.href = '/login'; return; }
  const s = await r.json();
  document.getElementById('devices').innerHTML = Object.values(s.devices).map(d => row([esc(d.device_id),
    esc(d.state), d.items_per_s, esc(JSON.stringify(d.errors)), esc(d.last_error)])).join('');
  document.getElementById('uplink').textContent = s.uplink.connected ? 'connected to ' + s.uplink.broker
    : 'disconnected' + (s.uplink.last_error ? ' (' + s.uplink.last_error + ')' : '');
  document.getElementById('outbox').textContent = s.outbox.depth + ' pending, oldest ' +
    (s.outbox.oldest_age_s === null ? '–' : s.outbox.oldest_age_s + ' s');
  document.getElementById('lists').textContent = 'version ' + s.lists.version + ' (' + s.lists.source + ')';
  document.getElementById('decisions').innerHTML = s.recent_decisions.map(d => row([esc(d.time),
    esc(d.lane_id), esc(d.category), esc(d.core_c), esc(d.id_masked), esc(d.id_hmac)])).join('');
}
async function post(url, data) {
  const r = await fetch(url, {method: 'POST', body: new URLSearchParams(data),
    headers: {'Content-Type': 'application/x-www-form-urlencoded'}});
  return [r.status, await r.json()];
}
function show(lane, [status, j]) {
  const out = document.getElementById('cal-out-' + lane), apply = document.getElementById('cal-apply-' + lane);
  apply.hidden = true;
  if (status !== 200) {
    out.textContent = (j.error || 'failed') + (j.errors ? '\\n' + j.errors.join('\\n') : '');
    out.dataset.state = 'error'; return;
  }
  if (j.applied) {
    out.textContent = 'applied ' + j.applied + ' (drop-ins: ' + j.dropins.join(', ') + '); reload ' + j.reload;
    out.dataset.state = 'applied'; return;
  }
  out.textContent = j.result.join('\\n') + '\\n\\n' + j.dropin;
  out.dataset.state = 'proposed'; apply.dataset.token = j.token; apply.hidden = false;
}
function calibrate(lane, kind) {
  const base = '/lane/' + encodeURIComponent(lane) + '/calibrate/';
  const out = document.getElementById('cal-out-' + lane);
  out.textContent = kind === 'blackbody' ? 'collecting frames…' : 'computing…'; out.dataset.state = 'busy';
  const data = kind === 'registration' ? {pairs: document.getElementById('cal-pairs-' + lane).value}
    : kind === 'offset' ? {readings: document.getElementById('cal-readings-' + lane).value} : {};
  post(base + kind, data).then(r => show(lane, r));
}
function applyProposal(lane) {
  const token = document.getElementById('cal-apply-' + lane).dataset.token;
  post('/calibrate/apply', {token}).then(r => show(lane, r));
}
setInterval(refreshImages, 500); setInterval(refreshStatus, 1000); refreshImages(); refreshStatus();
"""


def _lane_view(lane: str, lane_js: str) -> str:
    """Live image and calibration forms of one lane (`lane` HTML-escaped, `lane_js` a JSON string)."""
    js = html.escape(lane_js)
    return (
        f'<div class="lane"><h2>{lane}</h2><img id="live-{lane}" alt="live thermal view of {lane}">'
        f"<details><summary>Calibrate {lane}</summary>"
        f'<p><button id="cal-blackbody-{lane}" onclick=\'calibrate({js}, "blackbody")\'>Find blackbody</button>'
        " (the blackbody on and in view; 16 frames)</p>"
        f"<p>Point pairs (visible_x,visible_y,thermal_x,thermal_y per line, ≥ 6):<br>"
        f'<textarea id="cal-pairs-{lane}" rows="4" cols="40"></textarea><br>'
        f'<button id="cal-registration-{lane}" onclick=\'calibrate({js}, "registration")\'>Fit registration</button></p>'
        f"<p>Paired readings (appliance_c,clinical_c per line, ≥ 10):<br>"
        f'<textarea id="cal-readings-{lane}" rows="4" cols="40"></textarea><br>'
        f'<button id="cal-offset-{lane}" onclick=\'calibrate({js}, "offset")\'>Compute offset</button></p>'
        f'<pre id="cal-out-{lane}"></pre>'
        f"<button id=\"cal-apply-{lane}\" hidden onclick='applyProposal({js})'>Apply (writes the drop-in, reloads)</button>"
        "</details></div>"
    )


def console_page(ctx: WebContext) -> str:
    lanes = [lane.lane_id for lane in ctx.service().lanes]
    lane_views = "".join(_lane_view(html.escape(lane), json.dumps(lane)) for lane in lanes)
    body = (
        '<h1>checkpoint-edge technician console <form method="post" action="/logout">'
        '<button id="logout">Log out</button></form></h1>'
        f'<script type="application/json" id="lanes">{html.escape(json.dumps(lanes), quote=False)}</script>'
        f"{lane_views}"
        "<h2>Devices</h2><table><thead><tr><th>device</th><th>state</th><th>items/s</th><th>errors</th>"
        '<th>last error</th></tr></thead><tbody id="devices"></tbody></table>'
        '<p>Uplink: <span id="uplink"></span>. Outbox: <span id="outbox"></span>. '
        'Rule lists: <span id="lists"></span>.</p>'
        "<h2>Recent decisions</h2><table><thead><tr><th>time</th><th>lane</th><th>outcome</th>"
        "<th>core °C</th><th>ID (masked)</th><th>ID (pseudonym)</th></tr></thead>"
        '<tbody id="decisions"></tbody></table>'
        f"<script>{_CONSOLE_SCRIPT}</script>"
    )
    return _doc("checkpoint-edge console", body)


def console_status(ctx: WebContext) -> dict[str, Any]:
    service = ctx.service()
    status = service.status()
    outbox = service.outbox.health()
    return {
        "lanes": status["lanes"],
        "devices": status["devices"],
        "uplink": service.uplink.state(),
        "outbox": {"depth": sum(outbox["depth"].values()), "oldest_age_s": outbox["oldest_age_s"]},
        "lists": status["rule_lists"],
        "recent_decisions": service.recent_decisions(),
    }
