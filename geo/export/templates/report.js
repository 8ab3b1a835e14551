/* geo report: pan/zoom SVG map, info panel, sortable table. Vanilla JS, no network. */
(function () {
  "use strict";
  var report = window.__geoReportError || function () {};

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function initMap(data, api) {
    var svg = $("#map");
    if (!svg || !data.map) { return; }
    var home = data.map.view.slice();
    var view = home.slice();
    var minW = 60, maxW = home[2] * 4;

    function unitsPerPx() {
      /* the drawing area: the box inside the border */
      var w = svg.clientWidth, h = svg.clientHeight;
      if (!w || !h) { return view[2] / 800; }
      return Math.max(view[2] / w, view[3] / h);
    }

    function starPath(x, y, r) {
      var d = "";
      for (var i = 0; i < 10; i++) {
        var a = Math.PI / 2 + i * Math.PI / 5, rr = i % 2 ? r * 0.45 : r;
        d += (i ? "L" : "M") + (x + rr * Math.cos(a)).toFixed(1) + " " + (y - rr * Math.sin(a)).toFixed(1);
      }
      return d + "Z";
    }

    var styledAt = null;  /* the scale (map units a screen pixel) the labels were sized for */
    function restyle() {
      var u = unitsPerPx();
      if (styledAt !== null && Math.abs(u - styledAt) <= 1e-9 * u) { return; }  /* a pan */
      styledAt = u;
      $all(".target-label", svg).forEach(function (t) { t.setAttribute("font-size", (14 * u).toFixed(2)); t.setAttribute("stroke-width", (3 * u).toFixed(2)); });
      $all(".licence-label", svg).forEach(function (t) { t.setAttribute("font-size", (12 * u).toFixed(2)); t.setAttribute("stroke-width", (3 * u).toFixed(2)); });
      $all(".occurrence", svg).forEach(function (p) {
        p.setAttribute("d", starPath(parseFloat(p.getAttribute("data-x")), parseFloat(p.getAttribute("data-y")), 9 * u));
      });
      declutter(u);
    }

    /* Hide the labels that would overlap a label already shown: target labels first, best
       rank first (their order in the page), then licence labels. Boxes are estimated from the
       text length (no layout read), kept in a grid of cells, so a zoom costs O(labels). */
    function declutter(u) {
      var cell = 60 * u, grid = {};
      function key(i, j) { return i + ":" + j; }
      var labels = $all(".target-label", svg).concat($all(".licence-label", svg));
      labels.forEach(function (t) {
        var size = parseFloat(t.getAttribute("font-size")) || 12 * u;
        var x = parseFloat(t.getAttribute("x")), y = parseFloat(t.getAttribute("y"));
        var w = (t.textContent.length * 0.7 + 0.5) * size + 4 * u, h = 1.35 * size + 4 * u;
        var b = [x - w / 2, y - h / 2, x + w / 2, y + h / 2];
        var i0 = Math.floor(b[0] / cell), i1 = Math.floor(b[2] / cell);
        var j0 = Math.floor(b[1] / cell), j1 = Math.floor(b[3] / cell);
        var clash = false, i, j, k;
        if ((i1 - i0 + 1) * (j1 - j0 + 1) > 400) { i1 = i0 + 19; j1 = j0 + 19; }  /* a very long label */
        for (i = i0; i <= i1 && !clash; i++) {
          for (j = j0; j <= j1 && !clash; j++) {
            var boxes = grid[key(i, j)] || [];
            for (k = 0; k < boxes.length; k++) {
              var o = boxes[k];
              if (b[0] < o[2] && o[0] < b[2] && b[1] < o[3] && o[1] < b[3]) { clash = true; break; }
            }
          }
        }
        t.classList.toggle("cluttered", clash);
        if (clash) { return; }
        for (i = i0; i <= i1; i++) {
          for (j = j0; j <= j1; j++) { (grid[key(i, j)] = grid[key(i, j)] || []).push(b); }
        }
      });
    }

    var utm = data.map.utm;
    /* a scene point as a GPS shows it: UTM with the zone named and positive northings */
    function readout(p) {
      var e = p.x, n = -p.y;
      if (!utm) { return (data.map.crs || "scene CRS") + "  E " + e.toFixed(0) + "  N " + n.toFixed(0); }
      var north = n + utm.base;  /* the north-zone northing: negative south of the equator */
      var south = north < 0;
      return "UTM " + utm.zone + (south ? "S" : "N") + "  E " + e.toFixed(0) + "  N " + (south ? north + 10000000 : north).toFixed(0);
    }

    function setView(v) {
      var w = Math.min(Math.max(v[2], minW), maxW);
      var h = v[3] * w / v[2];
      var cx = v[0] + v[2] / 2, cy = v[1] + v[3] / 2;
      view = [cx - w / 2, cy - h / 2, w, h];
      svg.setAttribute("viewBox", view.map(function (n) { return n.toFixed(2); }).join(" "));
      restyle();
    }

    function toMap(evt) {
      var pt = svg.createSVGPoint();
      pt.x = evt.clientX; pt.y = evt.clientY;
      var m = svg.getScreenCTM();
      return m ? pt.matrixTransform(m.inverse()) : { x: view[0], y: view[1] };
    }

    function zoomAt(factor, px, py) {
      var w = view[2] * factor;
      if (w < minW || w > maxW) { factor = Math.min(Math.max(w, minW), maxW) / view[2]; }
      var nx = px - (px - view[0]) * factor, ny = py - (py - view[1]) * factor;
      setView([nx, ny, view[2] * factor, view[3] * factor]);
    }

    function zoomCentre(factor) { zoomAt(factor, view[0] + view[2] / 2, view[1] + view[3] / 2); }

    function zoomTo(id) {
      var t = (data.map.targets || []).filter(function (x) { return x.id === id; })[0];
      if (!t) { return; }
      var pad = Math.max(t.bbox[2], t.bbox[3]) * 0.8 + 400;
      var size = Math.max(t.bbox[2], t.bbox[3]) + 2 * pad;
      var cx = t.bbox[0] + t.bbox[2] / 2, cy = t.bbox[1] + t.bbox[3] / 2;
      var aspect = home[3] / home[2];
      setView([cx - size / 2, cy - size * aspect / 2, size, size * aspect]);
    }

    var drag = null;
    var touches = {};  /* pointers down on the map, for a two-finger pinch */
    var pinch = null;
    function showCoords(e) {
      var coords = $("#map-coords");
      if (coords) { coords.textContent = readout(toMap(e)); }
    }
    svg.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) { return; }
      touches[e.pointerId] = { x: e.clientX, y: e.clientY };
      showCoords(e);
      var ids = Object.keys(touches);
      if (ids.length === 2) {
        var a = touches[ids[0]], b = touches[ids[1]];
        pinch = { d: Math.hypot(a.x - b.x, a.y - b.y) || 1, view: view.slice() };
        drag = null;
        return;
      }
      drag = { x: e.clientX, y: e.clientY, view: view.slice(), moved: false, u: unitsPerPx(), target: e.target };
      try { svg.setPointerCapture(e.pointerId); } catch (err) { /* not capturable */ }
    });
    svg.addEventListener("pointermove", function (e) {
      showCoords(e);
      if (touches[e.pointerId]) { touches[e.pointerId] = { x: e.clientX, y: e.clientY }; }
      var ids = Object.keys(touches);
      if (pinch && ids.length === 2) {
        var a = touches[ids[0]], b = touches[ids[1]];
        var d = Math.hypot(a.x - b.x, a.y - b.y) || 1;
        var mid = toMap({ clientX: (a.x + b.x) / 2, clientY: (a.y + b.y) / 2 });
        var f = (pinch.d / d) * pinch.view[2] / view[2];
        zoomAt(f, mid.x, mid.y);
        return;
      }
      if (!drag) { return; }
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) { return; }
      drag.moved = true;
      svg.classList.add("dragging");
      setView([drag.view[0] - dx * drag.u, drag.view[1] - dy * drag.u, drag.view[2], drag.view[3]]);
    });
    function endDrag(e) {
      delete touches[e.pointerId];
      if (Object.keys(touches).length < 2) { pinch = null; }
      if (!drag) { return; }
      var d = drag; drag = null;
      svg.classList.remove("dragging");
      if (!d.moved && e.type === "pointerup") {
        var el = document.elementFromPoint(e.clientX, e.clientY) || d.target;
        var id = el && el.getAttribute && el.getAttribute("data-target-id");
        if (id) { api.select(id, false); }
      }
    }
    svg.addEventListener("pointerup", endDrag);
    svg.addEventListener("pointercancel", endDrag);
    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      var p = toMap(e);
      zoomAt(e.deltaY < 0 ? 1 / 1.25 : 1.25, p.x, p.y);
    }, { passive: false });
    $("#zoom-in").addEventListener("click", function () { zoomCentre(1 / 1.5); });
    $("#zoom-out").addEventListener("click", function () { zoomCentre(1.5); });
    $("#zoom-reset").addEventListener("click", function () { setView(home); });
    window.addEventListener("resize", restyle);
    api.readout = readout;
    setView(home);
    api.zoomTo = zoomTo;
    api.view = function () { return view.slice(); };
  }

  function showInfo(data, id) {
    var info = (data.info || {})[id];
    var body = $("#info-body"), empty = $("#info-empty");
    if (!info || !body) { return; }
    var rows = [
      ["Rank", info.rank], ["Score", info.score], ["Licence", info.licence], ["Holder", info.holder],
      ["Status", info.status + (info.flag ? " (" + info.flag + ")" : "")],
      ["UTM (GPS)", info.utm], ["Lat / lon", info.dms], ["Decimal", info.latlon], ["Scene CRS", info.scene],
      ["Evidence", info.evidence || "—"]
    ];
    body.innerHTML = "<h3>" + esc(info.id) + "</h3><table>" + rows.map(function (r) {
      return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>";
    }).join("") + "</table>" +
      (document.getElementById("target-" + info.id) ? "<p><a class=\"sheet-link\" href=\"#target-" + esc(info.id) + "\">Open the map sheet of " + esc(info.id) + " ›</a></p>" : "");
    body.hidden = false;
    if (empty) { empty.hidden = true; }
  }

  function initTable(api) {
    var table = $("#targets-table");
    var state = { col: null, dir: 1 };
    function cellKey(tr, i) {
      var td = tr.children[i];
      return td ? td.getAttribute("data-key") || "" : "";
    }
    function compare(a, b, numeric) {
      var ea = a === "", eb = b === "";
      if (ea || eb) { return ea === eb ? 0 : (ea ? 1 : -1); }
      if (numeric) {
        var na = parseFloat(a), nb = parseFloat(b);
        if (!isNaN(na) && !isNaN(nb)) { return na - nb; }
      }
      return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
    }
    function sortBy(col, dir) {
      if (!table) { return []; }
      var ths = $all("thead th", table);
      var idx = ths.map(function (th) { return th.getAttribute("data-col"); }).indexOf(col);
      if (idx < 0) { throw new Error("no column " + col); }
      if (dir === undefined) { dir = state.col === col ? -state.dir : 1; }
      else { dir = (dir === "desc" || dir === -1) ? -1 : 1; }
      state = { col: col, dir: dir };
      var numeric = ths[idx].getAttribute("data-type") === "num";
      var tbody = table.tBodies[0];
      var rows = Array.prototype.slice.call(tbody.rows);
      rows.sort(function (a, b) {
        var ka = cellKey(a, idx), kb = cellKey(b, idx);
        var c = compare(ka, kb, numeric);
        if ((ka === "") !== (kb === "")) { return c; }  /* empty cells last either way */
        return dir * c;
      });
      rows.forEach(function (r) { tbody.appendChild(r); });
      ths.forEach(function (th, i) {
        var arrow = $(".arrow", th);
        if (arrow) { arrow.textContent = i === idx ? (dir > 0 ? "▲" : "▼") : ""; }
        th.setAttribute("aria-sort", i === idx ? (dir > 0 ? "ascending" : "descending") : "none");
      });
      return api.rows();
    }
    api.sortBy = sortBy;
    api.rows = function () {
      return table ? Array.prototype.slice.call(table.tBodies[0].rows).map(function (r) { return r.getAttribute("data-target-id"); }) : [];
    };
    if (!table) { return; }
    $all("thead th", table).forEach(function (th) {
      function go() { sortBy(th.getAttribute("data-col")); }
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
    });
    table.tBodies[0].addEventListener("click", function (e) {
      var tr = e.target.closest ? e.target.closest("tr") : null;
      if (!tr || !tr.getAttribute("data-target-id")) { return; }
      /* the id links to the sheet (the browser follows it); elsewhere the row shows the map */
      var link = e.target.closest("a.sheet-link");
      api.select(tr.getAttribute("data-target-id"), !link);
    });
  }

  function init() {
    var el = document.getElementById("geo-data");
    var data = el ? JSON.parse(el.textContent) : { map: null, info: {} };
    var api = { data: data, zoomTo: function () {} };
    api.select = function (id, zoom) {
      $all("#map .target").forEach(function (p) { p.classList.toggle("selected", p.getAttribute("data-target-id") === id); });
      $all("#targets-table tbody tr").forEach(function (r) { r.classList.toggle("selected", r.getAttribute("data-target-id") === id); });
      showInfo(data, id);
      if (zoom) {
        api.zoomTo(id);
        var sec = $("#map-section");
        if (sec && sec.scrollIntoView) { sec.scrollIntoView({ behavior: "smooth", block: "start" }); }
      }
    };
    window.geoReport = api;
    try { initMap(data, api); } catch (err) { report("map: " + (err && err.stack || err)); }
    try { initTable(api); } catch (err) { report("table: " + (err && err.stack || err)); }
    if (data.selfTest) {
      var out = document.getElementById("self-test");
      try {
        var order = api.sortBy("score", "asc");
        var scores = order.map(function (id) {
          var row = $("#targets-table tbody tr[data-target-id=\"" + (window.CSS && CSS.escape ? CSS.escape(id) : id) + "\"]");
          return row ? parseFloat(row.children[2].getAttribute("data-key")) : null;
        });
        var desc = api.sortBy("score");
        if (order.length) { api.select(order[0], true); }
        out.textContent = JSON.stringify({ ascending: order, scores: scores, toggled: desc, view: api.view ? api.view() : null });
      } catch (err) {
        out.textContent = "failed: " + err;
        report("self-test: " + (err && err.stack || err));
      }
    }
  }

  try {
    var pending = window.__geoErrors || [];
    pending.forEach(report);
    init();
  } catch (err) {
    report("init: " + (err && err.stack || err));
  } finally {
    document.body.dataset.ready = "1";
  }
})();
