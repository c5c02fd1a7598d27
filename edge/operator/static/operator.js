// The lane's operator display. Every text comes from the server (the catalogue); this file has none.
'use strict';
(function () {
  const cfg = JSON.parse(document.getElementById('config').textContent);
  const $ = (id) => document.getElementById(id);
  let strings = cfg.strings;
  let lang = cfg.lang;
  let sound = cfg.sound;
  let source = null;
  let shown = null;
  let beepedSeq = 0;
  let audio = null;

  function otherLanguage() {
    const codes = Object.keys(cfg.languages);
    return codes[(codes.indexOf(lang) + 1) % codes.length];
  }

  function applyStrings() {
    document.documentElement.lang = lang.replace('_', '-');
    document.title = strings.title;
    $('lane').textContent = strings.title;
    $('ack').textContent = strings.acknowledge;
    $('pending-ack').textContent = strings.acknowledge;
    $('faults-title').textContent = strings.faults;
    $('offline').textContent = strings.disconnected;
    $('sound').textContent = sound ? strings.sound_on : strings.sound_off;
    $('lang').textContent = cfg.languages[otherLanguage()];
  }

  function beep() {
    // A short three-tone cue, generated: no audio file, no text.
    try {
      audio = audio || new AudioContext();
      for (let i = 0; i < 3; i++) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.frequency.value = 880;
        gain.gain.value = 0.3;
        osc.connect(gain).connect(audio.destination);
        const t = audio.currentTime + i * 0.3;
        osc.start(t);
        osc.stop(t + 0.18);
      }
    } catch (e) { /* no audio device: the screen still shows the alarm */ }
  }

  function render(s) {
    shown = s;
    document.body.className = 'style-' + s.style + (s.acknowledged ? ' acknowledged' : '');
    document.body.dataset.seq = String(s.seq);
    document.body.dataset.idle = String(s.idle);
    $('headline').textContent = s.headline;
    $('temperature').textContent = s.temperature;
    $('guidance').textContent = s.guidance;
    $('ack').hidden = !s.needs_ack;
    const pending = s.pending;
    $('pending').hidden = !pending;
    if (pending) {
      $('pending-text').textContent = pending.text;
      $('pending-temperature').textContent = pending.temperature;
      $('pending-ack').dataset.seq = String(pending.seq);
    }
    const list = $('fault-list');
    list.replaceChildren(...s.faults.map((text) => {
      const li = document.createElement('li');
      li.textContent = text;
      return li;
    }));
    $('faults').hidden = s.faults.length === 0;
    if (s.needs_ack && sound && s.seq !== beepedSeq) {
      beepedSeq = s.seq;
      beep();
    }
  }

  function connect() {
    if (source) source.close();
    source = new EventSource('/lane/' + encodeURIComponent(cfg.lane) + '/events?lang=' + encodeURIComponent(lang));
    source.onmessage = (e) => {
      $('offline').hidden = true;
      render(JSON.parse(e.data));
    };
    source.onerror = () => { $('offline').hidden = false; };  // EventSource reconnects by itself
  }

  function acknowledge(seq) {
    fetch('/lane/' + encodeURIComponent(cfg.lane) + '/ack', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({seq: seq}),
    }).catch(() => { $('offline').hidden = false; });
  }

  $('ack').addEventListener('click', () => { if (shown) acknowledge(shown.seq); });
  $('pending-ack').addEventListener('click', (e) => acknowledge(Number(e.target.dataset.seq)));
  $('sound').addEventListener('click', () => {
    sound = !sound;
    if (sound) beep();  // a click unlocks audio in browsers that wait for a gesture
    applyStrings();
  });
  $('lang').addEventListener('click', () => {
    const next = otherLanguage();
    fetch('/lane/' + encodeURIComponent(cfg.lane) + '/strings?lang=' + encodeURIComponent(next))
      .then((r) => r.json())
      .then((body) => {
        lang = body.lang;
        strings = body.strings;
        const url = new URL(window.location.href);
        url.searchParams.set('lang', lang);
        window.history.replaceState(null, '', url);
        applyStrings();
        connect();
      })
      .catch(() => { $('offline').hidden = false; });
  });

  applyStrings();
  connect();
})();
