// gpsntp status page: keeps the server-rendered page live. It fetches the page's parts as HTML fragments
// (rendered by the server from the same templates as the page) and swaps them in, so every number is
// formatted in one place, on the server. No framework, no third-party code; CSP allows this file only.
'use strict';
(function () {
  const SUMMARY_MS = 2000;
  const CHARTS_MS = 10000;
  let range = document.body.dataset.range === '1d' ? '1d' : '1h';
  let failures = 0;
  let timers = [];

  function setConn(ok) {
    const el = document.getElementById('conn');
    if (!el) return;
    el.textContent = ok ? 'live' : 'connection lost, retrying';
    el.classList.toggle('stale', !ok);
  }

  async function swap(id, url) {
    const ctrl = new AbortController();
    const t = setTimeout(() => ctrl.abort(), 8000);
    try {
      const r = await fetch(url, { cache: 'no-store', signal: ctrl.signal });
      if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
      const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
      const fresh = doc.getElementById(id);
      const old = document.getElementById(id);
      if (!fresh || !old) throw new Error(url + ': no #' + id);
      old.replaceWith(document.adoptNode(fresh));
      failures = 0;
      setConn(true);
    } catch (e) {
      failures++;
      setConn(false);
    } finally {
      clearTimeout(t);
    }
  }

  function refreshCharts() { return swap('charts', '/fragment/charts?range=' + range); }
  function refreshSummary() { return swap('summary', '/fragment/summary'); }

  function schedule(fn, ms) {
    let stopped = false;
    const loop = async () => {
      if (stopped) return;
      if (!document.hidden) await fn();
      // Back off while the box does not answer, up to a minute.
      const wait = Math.min(ms * Math.pow(2, Math.min(failures, 5)), 60000);
      timers.push(setTimeout(loop, wait));
    };
    timers.push(setTimeout(loop, ms));
    return () => { stopped = true; };
  }

  // The range links work without script (they reload the page); with it, only the charts change.
  document.addEventListener('click', (ev) => {
    const a = ev.target instanceof Element ? ev.target.closest('a[data-range]') : null;
    if (!a) return;
    ev.preventDefault();
    range = a.dataset.range === '1d' ? '1d' : '1h';
    document.body.dataset.range = range;
    history.replaceState(null, '', '/?range=' + range);
    refreshCharts();
  });

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) { refreshSummary(); refreshCharts(); }
  });

  schedule(refreshSummary, SUMMARY_MS);
  schedule(refreshCharts, CHARTS_MS);
})();
