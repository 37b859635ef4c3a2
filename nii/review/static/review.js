/* NII review page: the scan on a canvas with pan, zoom, layers, window and level, boxes.
 *
 * The page's description is the JSON in #nii-meta. Each data layer is a script in
 * review_files/<name>.js calling niiReviewData(name, tiles): base64 of deflated
 * little-endian codes (u16: value = lo + (code - 1) * (hi - lo) / 65534, 0 = none;
 * u8: class codes), one tile per meta.tile_columns columns, rows whole.
 * View transform: screen x = tx + column * scale, screen y = ty + row * scale * aspect
 * (aspect = row height / column pitch: the scan at its true proportions).
 * window.niiReview exposes the state for tests and for the review station.
 */
(function () {
  "use strict";
  var meta = JSON.parse(document.getElementById("nii-meta").textContent);
  var station = window.NII_STATION || null;
  var ROWS = meta.shape[0], COLS = meta.shape[1], ASPECT = meta.aspect || 1;
  var TILE = meta.tile_columns, NTILES = meta.tiles;
  var CODES = 65534;
  var viewer = document.getElementById("viewer");
  var canvas = document.getElementById("view");
  var ctx = canvas.getContext("2d");
  var readout = document.getElementById("readout");
  var loading = document.getElementById("loading");

  var state = {
    scale: 1, tx: 0, ty: 0, layer: "material", showBoxes: true, selected: null,
    windows: {}, drawing: false, drawn: [], draft: null
  };
  var data = {};        // source name -> array of typed arrays (one per tile)
  var pending = {};     // source name -> {promise, resolve, reject}
  var tiles = [];       // per tile: {canvas, c0, width, key}
  var api = { ready: false, animating: false, meta: meta, state: state, errors: [] };
  window.niiReview = api;

  // ------------------------------------------------------------------ data
  function b64(text) {
    if (Uint8Array.fromBase64) { return Uint8Array.fromBase64(text); }
    var binary = atob(text), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes;
  }
  function inflate(text, dtype) {
    var stream = new Blob([b64(text)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buffer) {
      return dtype === "u8" ? new Uint8Array(buffer) : new Uint16Array(buffer);
    });
  }
  window.niiReviewData = function (name, encoded) {
    var entry = pending[name];
    if (!entry) { return; }
    var dtype = (meta.layers[name] || {}).dtype || "u16";
    Promise.all(encoded.map(function (t) { return inflate(t, dtype); })).then(function (arrays) {
      data[name] = arrays;
      entry.resolve(arrays);
    }, entry.reject);
  };
  function load(name) {
    if (pending[name]) { return pending[name].promise; }
    var entry = {};
    entry.promise = new Promise(function (resolve, reject) { entry.resolve = resolve; entry.reject = reject; });
    pending[name] = entry;
    var script = document.createElement("script");
    script.src = meta.assets + "/" + name + ".js";
    script.onerror = function () { entry.reject(new Error("cannot load " + script.src)); };
    document.head.appendChild(script);
    return entry.promise;
  }
  function sourcesOf(layer) {
    var source = meta.layers[layer].source;
    return layer === "material" ? ["classes", source] : [source];
  }

  // ------------------------------------------------------------------ colours
  function clamp01(t) { return t < 0 ? 0 : (t > 1 ? 1 : t); }
  function turbo(t) {
    var r = 34.61 + t * (1172.33 - t * (10793.56 - t * (33300.12 - t * (38394.49 - t * 14825.05))));
    var g = 23.31 + t * (557.33 + t * (1225.33 - t * (3574.96 - t * (1073.77 + t * 707.56))));
    var b = 27.2 + t * (3211.1 - t * (15327.97 - t * (27814 - t * (22569.18 - t * 6838.66))));
    return [r, g, b];
  }
  function diverging(t) {
    var blue = [33, 102, 172], red = [178, 24, 43], white = [247, 247, 247];
    var a = t < 0.5 ? blue : white, b = t < 0.5 ? white : red, u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
    return [a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u, a[2] + (b[2] - a[2]) * u];
  }
  function colourOf(map, t) {
    if (map === "turbo") { return turbo(t); }
    if (map === "diverging") { return diverging(t); }
    var v = 255 * (1 - t);
    return [v, v, v];
  }
  function pack(r, g, b) {
    r = Math.max(0, Math.min(255, Math.round(r)));
    g = Math.max(0, Math.min(255, Math.round(g)));
    b = Math.max(0, Math.min(255, Math.round(b)));
    return (255 << 24 | b << 16 | g << 8 | r) >>> 0;  // ImageData is RGBA: little-endian Uint32
  }
  function windowOf(layer) {
    if (!state.windows[layer]) { state.windows[layer] = meta.layers[layer].window.slice(); }
    return state.windows[layer];
  }
  function valueOfCode(layer, code) {
    var d = meta.layers[layer];
    return d.lo + (code - 1) * (d.hi - d.lo) / CODES;
  }
  function tOfCode(layer, w) {  // code -> 0..1 through the window
    var d = meta.layers[layer], step = (d.hi - d.lo) / CODES, span = (w[1] - w[0]) || 1e-9;
    return function (code) { return clamp01((d.lo + (code - 1) * step - w[0]) / span); };
  }
  var NODATA = pack(60, 60, 60);
  function greyLut(layer) {
    var d = meta.layers[layer], w = windowOf(layer), t = tOfCode(layer, w);
    var lut = new Uint32Array(65536);
    var palette = new Uint32Array(256);
    for (var i = 0; i < 256; i++) { var c = colourOf(d.colour_map, i / 255); palette[i] = pack(c[0], c[1], c[2]); }
    lut[0] = NODATA;
    for (var q = 1; q < 65536; q++) { lut[q] = palette[Math.round(255 * t(q))]; }
    return lut;
  }
  function materialLuts() {
    var source = meta.layers.material.source, w = windowOf("material"), t = tOfCode(source, w);
    var classes = meta.classes, luts = [];
    var brightness = new Float32Array(65536);
    for (var q = 1; q < 65536; q++) { brightness[q] = 1 - 0.7 * Math.pow(t(q), 0.7); }
    brightness[0] = 0.3;
    for (var k = 0; k < 6; k++) {
      var rgb = classes[String(k)].rgb, lut = new Uint32Array(65536);
      for (q = 0; q < 65536; q++) {
        var b = brightness[q];
        if (k === 0) { var f = 0.45 + 0.55 * b; lut[q] = pack(rgb[0] * f, rgb[1] * f, rgb[2] * f); }
        else if (k === 5) { lut[q] = pack(0, 0, 0); }
        else { lut[q] = pack(rgb[0] * b, rgb[1] * b, rgb[2] * b); }
      }
      luts.push(lut);
    }
    return luts;
  }
  var HATCH_HIGH_Z = pack(255, 235, 255), OUTLINE_HIGH_Z = pack(255, 0, 255), HATCH_IMPENETRABLE = pack(200, 0, 0);

  function renderTiles() {
    var layer = state.layer, w = windowOf(layer);
    var key = layer + ":" + w[0] + ":" + w[1];
    var sources = sourcesOf(layer);
    for (var s = 0; s < sources.length; s++) { if (!data[sources[s]]) { return false; } }
    var material = layer === "material";
    var luts = material ? materialLuts() : null;
    var lut = material ? null : greyLut(layer);
    for (var i = 0; i < NTILES; i++) {
      var tile = tiles[i];
      if (tile.key === key) { continue; }
      var width = tile.width, image = tile.context.createImageData(width, ROWS);
      var out = new Uint32Array(image.data.buffer);
      if (material) {
        var cls = data.classes[i], values = data[meta.layers.material.source][i];
        var c0 = tile.c0;
        for (var r = 0; r < ROWS; r++) {
          var base = r * width;
          for (var c = 0; c < width; c++) {
            var p = base + c, k = cls[p];
            if (k > 5) { k = 5; }
            var colour = luts[k][values[p]];
            if (k === 4) {
              var column = c0 + c;
              var edge = r === 0 || r === ROWS - 1 || c === 0 || c === width - 1 ||
                cls[p - 1] !== 4 || cls[p + 1] !== 4 || cls[p - width] !== 4 || cls[p + width] !== 4;
              if (edge) { colour = OUTLINE_HIGH_Z; } else if ((r + column) % 8 === 0) { colour = HATCH_HIGH_Z; }
            } else if (k === 5 && (r + c0 + c) % 8 === 0) { colour = HATCH_IMPENETRABLE; }
            out[p] = colour;
          }
        }
      } else {
        var codes = data[meta.layers[layer].source][i];
        for (var n = 0; n < codes.length; n++) { out[n] = lut[codes[n]]; }
      }
      tile.context.putImageData(image, 0, 0);
      tile.key = key;
    }
    api.renderedLayer = layer;
    return true;
  }

  // ------------------------------------------------------------------ view
  function size() { return { w: canvas.clientWidth || 1, h: canvas.clientHeight || 1 }; }
  function fitScale(r0, r1, c0, c1, margin) {
    var s = size();
    return Math.min(s.w / Math.max(c1 - c0, 1), s.h / (Math.max(r1 - r0, 1) * ASPECT)) * (margin || 1);
  }
  function limits() {
    return { min: fitScale(0, ROWS, 0, COLS, 0.5), max: Math.max(40, fitScale(0, ROWS, 0, COLS, 1)) };
  }
  function viewFor(r0, r1, c0, c1, margin) {
    var l = limits(), scale = Math.min(Math.max(fitScale(r0, r1, c0, c1, margin), l.min), l.max), s = size();
    return { scale: scale, tx: s.w / 2 - scale * (c0 + c1) / 2, ty: s.h / 2 - scale * ASPECT * (r0 + r1) / 2 };
  }
  var animation = null;
  function go(target, animate) {
    if (!animate) { state.scale = target.scale; state.tx = target.tx; state.ty = target.ty; api.animating = false; draw(); return; }
    var start = { scale: state.scale, tx: state.tx, ty: state.ty }, s = size();
    // interpolate the centre (in image coordinates) and the log of the scale
    var cx0 = (s.w / 2 - start.tx) / start.scale, cy0 = (s.h / 2 - start.ty) / (start.scale * ASPECT);
    var cx1 = (s.w / 2 - target.tx) / target.scale, cy1 = (s.h / 2 - target.ty) / (target.scale * ASPECT);
    var t0 = performance.now(), duration = 220;
    api.animating = true;
    if (animation) { cancelAnimationFrame(animation); }
    function step(now) {
      var u = Math.min(1, (now - t0) / duration), e = u * (2 - u);
      var scale = Math.exp(Math.log(start.scale) + (Math.log(target.scale) - Math.log(start.scale)) * e);
      var cx = cx0 + (cx1 - cx0) * e, cy = cy0 + (cy1 - cy0) * e;
      state.scale = scale; state.tx = s.w / 2 - scale * cx; state.ty = s.h / 2 - scale * ASPECT * cy;
      draw();
      if (u < 1) { animation = requestAnimationFrame(step); }
      else { animation = null; state.scale = target.scale; state.tx = target.tx; state.ty = target.ty; draw(); api.animating = false; }
    }
    animation = requestAnimationFrame(step);
  }
  function fit(animate) { var e = meta.extent; go(viewFor(e[0], e[1], e[2], e[3], 0.98), animate); }
  function zoomAt(x, y, factor) {
    var l = limits(), scale = Math.min(Math.max(state.scale * factor, l.min), l.max), f = scale / state.scale;
    state.tx = x - (x - state.tx) * f; state.ty = y - (y - state.ty) * f; state.scale = scale;
    requestDraw();
  }
  function zoomToBox(bbox, animate) {
    // the box fills about a third of the view, with at least 30 cm of its surroundings
    var r0 = bbox[0], c0 = bbox[1], r1 = bbox[2], c1 = bbox[3];
    var aroundC = meta.column_pitch_mm ? 300 / meta.column_pitch_mm : 12;
    var aroundR = meta.row_height_mm ? 300 / meta.row_height_mm : 12 / ASPECT;
    var padR = Math.max((r1 - r0), aroundR, 2), padC = Math.max((c1 - c0), aroundC, 4);
    go(viewFor(r0 - padR, r1 + padR, c0 - padC, c1 + padC, 0.95), animate !== false);
  }
  api.fit = function () { fit(false); };
  api.zoomToBox = function (bbox) { zoomToBox(bbox, false); };
  api.view = function () {
    var s = size();
    return {
      scale: state.scale, aspect: ASPECT, tx: state.tx, ty: state.ty, width: s.w, height: s.h,
      visible: [-state.ty / (state.scale * ASPECT), -state.tx / state.scale,
                (s.h - state.ty) / (state.scale * ASPECT), (s.w - state.tx) / state.scale]
    };
  };
  api.boxesOnScreen = function () { return meta.objects.map(function (o) { return screenBox(o.bbox, 16); }); };
  api.screenOf = function (row, col) { return [state.tx + col * state.scale, state.ty + row * state.scale * ASPECT]; };

  var drawQueued = false;
  function requestDraw() {
    if (drawQueued) { return; }
    drawQueued = true;
    requestAnimationFrame(function () { drawQueued = false; draw(); });
  }
  function draw() {
    var dpr = window.devicePixelRatio || 1, s = size();
    if (canvas.width !== Math.round(s.w * dpr) || canvas.height !== Math.round(s.h * dpr)) {
      canvas.width = Math.round(s.w * dpr); canvas.height = Math.round(s.h * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#2b2b2b";
    ctx.fillRect(0, 0, s.w, s.h);
    if (api.renderedLayer) {
      ctx.save();
      ctx.transform(state.scale, 0, 0, state.scale * ASPECT, state.tx, state.ty);
      ctx.imageSmoothingEnabled = state.scale < 1.5 && state.scale * ASPECT < 1.5;
      ctx.imageSmoothingQuality = "medium";
      var left = -state.tx / state.scale, right = (s.w - state.tx) / state.scale;
      for (var i = 0; i < NTILES; i++) {
        var tile = tiles[i];
        if (tile.c0 + tile.width < left || tile.c0 > right) { continue; }
        ctx.drawImage(tile.canvas, tile.c0, 0);
      }
      ctx.restore();
    }
    if (state.showBoxes) { drawBoxes(); }
    drawScaleBar();
  }
  function screenBox(bbox, minimum) {
    var x0 = state.tx + bbox[1] * state.scale, x1 = state.tx + bbox[3] * state.scale;
    var y0 = state.ty + bbox[0] * state.scale * ASPECT, y1 = state.ty + bbox[2] * state.scale * ASPECT;
    if (x1 - x0 < minimum) { var cx = (x0 + x1) / 2; x0 = cx - minimum / 2; x1 = cx + minimum / 2; }
    if (y1 - y0 < minimum) { var cy = (y0 + y1) / 2; y0 = cy - minimum / 2; y1 = cy + minimum / 2; }
    return [x0, y0, x1, y1];
  }
  function drawBoxes() {
    ctx.font = "bold 14px 'DejaVu Sans', sans-serif";
    ctx.textBaseline = "top";
    meta.objects.forEach(function (o) {
      var b = screenBox(o.bbox, 16), selected = state.selected === o.number;
      ctx.lineWidth = selected ? 3 : 2;
      ctx.strokeStyle = selected ? "#ffeb3b" : "#e61414";
      ctx.strokeRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
      var label = String(o.number), w = ctx.measureText(label).width + 8, y = b[1] - 20 >= 0 ? b[1] - 20 : b[3] + 2;
      ctx.fillStyle = "#fff"; ctx.fillRect(b[0], y, w, 18);
      ctx.strokeStyle = "#e61414"; ctx.lineWidth = 1; ctx.strokeRect(b[0], y, w, 18);
      ctx.fillStyle = "#e61414"; ctx.fillText(label, b[0] + 4, y + 2);
    });
    ctx.setLineDash([2, 3]);
    ctx.strokeStyle = "#80deea"; ctx.lineWidth = 1.5;
    (state.recorded || []).forEach(function (box) {  // boxes of the decisions already recorded
      var b = screenBox(box, 4);
      ctx.strokeRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
    });
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = "#00e5ff"; ctx.lineWidth = 2;
    state.drawn.concat(state.draft ? [state.draft] : []).forEach(function (box) {
      var b = screenBox(box, 4);
      ctx.strokeRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
    });
    ctx.setLineDash([]);
  }
  var bar = document.getElementById("scalebar-bar"), barText = document.getElementById("scalebar-text");
  function drawScaleBar() {
    if (!meta.column_pitch_mm) { return; }
    var pxPerMm = state.scale / meta.column_pitch_mm, target = 120 / pxPerMm;
    var steps = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000], mm = steps[steps.length - 1];
    for (var i = 0; i < steps.length; i++) { if (steps[i] >= target) { mm = steps[i]; break; } }
    bar.style.width = Math.round(mm * pxPerMm) + "px";
    barText.textContent = mm >= 1000 ? (mm / 1000) + " m" : (mm >= 10 ? (mm / 10) + " cm" : mm + " mm");
  }

  // ------------------------------------------------------------------ layers and window/level
  var wlWindow = document.getElementById("wl-window"), wlLevel = document.getElementById("wl-level");
  var wlReadout = document.getElementById("wl-readout"), layerDescription = document.getElementById("layer-description");
  var colourKey = document.getElementById("colour-key");
  function valueRange(layer) { var d = meta.layers[meta.layers[layer].source]; return [d.lo, d.hi]; }
  function syncControls() {
    var d = meta.layers[state.layer], range = valueRange(state.layer), w = windowOf(state.layer), span = range[1] - range[0];
    wlWindow.value = Math.round(1000 * Math.sqrt(Math.max(w[1] - w[0], span / 1e6) / span));
    wlLevel.value = Math.round(1000 * ((w[0] + w[1]) / 2 - range[0]) / span);
    var unit = d.unit ? " " + d.unit : "";
    wlReadout.textContent = "window " + w[0].toPrecision(4) + " – " + w[1].toPrecision(4) + unit;
    layerDescription.textContent = d.description;
    document.querySelectorAll("button.layer").forEach(function (b) {
      b.classList.toggle("active", b.dataset.layer === state.layer);
    });
    if (d.colour_map === "material") {
      colourKey.style.background = "linear-gradient(to right," + [1, 2, 3, 4, 5, 0].map(function (k, i) {
        var c = meta.classes[String(k)].rgb, col = "rgb(" + c.join(",") + ")";
        return col + " " + (i * 100 / 6) + "%," + col + " " + ((i + 1) * 100 / 6) + "%";
      }).join(",") + ")";
      colourKey.title = "organic, inorganic, metal, high-Z, impenetrable, none";
    } else {
      var stops = [];
      for (var i = 0; i <= 8; i++) { var c = colourOf(d.colour_map, i / 8); stops.push("rgb(" + c.map(Math.round).join(",") + ") " + (i * 12.5) + "%"); }
      colourKey.style.background = "linear-gradient(to right," + stops.join(",") + ")";
      colourKey.title = w[0].toPrecision(3) + " … " + w[1].toPrecision(3) + unit;
    }
  }
  function setWindow(layer, low, high) {
    var range = valueRange(layer), span = range[1] - range[0], minimum = span / 1e5;
    if (high - low < minimum) { var mid = (low + high) / 2; low = mid - minimum / 2; high = mid + minimum / 2; }
    state.windows[layer] = [low, high];
    syncControls();
    queueRender();
  }
  function sliderChanged() {
    var range = valueRange(state.layer), span = range[1] - range[0];
    var width = span * Math.pow(wlWindow.value / 1000, 2), centre = range[0] + span * wlLevel.value / 1000;
    setWindow(state.layer, centre - width / 2, centre + width / 2);
  }
  wlWindow.addEventListener("input", sliderChanged);
  wlLevel.addEventListener("input", sliderChanged);
  document.getElementById("wl-reset").addEventListener("click", function () { resetWindow(); });
  function resetWindow() { var d = meta.layers[state.layer]; setWindow(state.layer, d.window[0], d.window[1]); }
  var renderQueued = false;
  function queueRender() {
    if (renderQueued) { return; }
    renderQueued = true;
    requestAnimationFrame(function () { renderQueued = false; if (renderTiles()) { draw(); } });
  }
  function setLayer(layer) {
    if (!meta.layers[layer] || layer === "classes") { return Promise.resolve(false); }
    state.layer = layer;
    syncControls();
    loading.textContent = "loading " + meta.layers[layer].label + "…";
    loading.hidden = false;
    return Promise.all(sourcesOf(layer).map(load)).then(function () {
      if (state.layer !== layer) { return false; }
      renderTiles(); draw();
      loading.hidden = true;
      return true;
    }, failed);
  }
  api.setLayer = setLayer;
  api.setWindow = function (low, high) { setWindow(state.layer, low, high); renderTiles(); draw(); };
  api.valueAt = function (layer, row, col) {
    var source = meta.layers[layer].source, arrays = data[source];
    if (!arrays) { return undefined; }
    var i = Math.floor(col / TILE), tile = tiles[i], code = arrays[i][row * tile.width + (col - tile.c0)];
    if (source === "classes") { return code; }
    return code === 0 ? null : valueOfCode(source, code);
  };
  document.querySelectorAll("button.layer").forEach(function (b) {
    b.addEventListener("click", function () { setLayer(b.dataset.layer); });
  });

  // ------------------------------------------------------------------ reasons and boxes
  function select(number) {
    state.selected = number;
    document.querySelectorAll("li.object").forEach(function (li) { li.classList.toggle("selected", Number(li.dataset.number) === number); });
  }
  function objectOf(number) { return meta.objects.filter(function (o) { return o.number === number; })[0]; }
  function zoomToObject(number) {
    var o = objectOf(number);
    if (!o) { return; }
    select(number);
    document.querySelectorAll("li.reason").forEach(function (li) { li.classList.remove("selected"); });
    zoomToBox(o.bbox);
  }
  function zoomToReason(li) {
    var numbers = (li.dataset.objects || "").split(" ").filter(Boolean).map(Number);
    document.querySelectorAll("li.reason").forEach(function (other) { other.classList.toggle("selected", other === li); });
    if (!numbers.length) { select(null); fit(true); return; }
    var boxes = numbers.map(objectOf).filter(Boolean).map(function (o) { return o.bbox; });
    var union = boxes.reduce(function (a, b) { return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])]; });
    select(numbers[0]);
    zoomToBox(union);
  }
  api.zoomToObject = zoomToObject;
  document.querySelectorAll("li.reason").forEach(function (li) {
    li.addEventListener("click", function () { zoomToReason(li); });
    li.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); zoomToReason(li); } });
  });
  document.querySelectorAll("li.object").forEach(function (li) {
    li.addEventListener("click", function () { zoomToObject(Number(li.dataset.number)); });
    li.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); zoomToObject(Number(li.dataset.number)); } });
  });
  function cycle(step) {
    if (!meta.objects.length) { return; }
    var index = meta.objects.findIndex(function (o) { return o.number === state.selected; });
    index = index < 0 ? (step > 0 ? 0 : meta.objects.length - 1) : (index + step + meta.objects.length) % meta.objects.length;
    zoomToObject(meta.objects[index].number);
  }

  // ------------------------------------------------------------------ pointer, wheel, keyboard
  function imageAt(x, y) { return [(y - state.ty) / (state.scale * ASPECT), (x - state.tx) / state.scale]; }
  var drag = null;
  canvas.addEventListener("pointerdown", function (e) {
    viewer.focus({ preventScroll: true });
    canvas.setPointerCapture(e.pointerId);
    var rect = canvas.getBoundingClientRect(), x = e.clientX - rect.left, y = e.clientY - rect.top;
    drag = { x: x, y: y, tx: state.tx, ty: state.ty, moved: false, draw: state.drawing };
    if (drag.draw) { var p = imageAt(x, y); drag.start = p; state.draft = [p[0], p[1], p[0], p[1]]; }
    else { viewer.classList.add("dragging"); }
  });
  canvas.addEventListener("pointermove", function (e) {
    var rect = canvas.getBoundingClientRect(), x = e.clientX - rect.left, y = e.clientY - rect.top;
    showReadout(x, y);
    if (!drag) { return; }
    if (Math.abs(x - drag.x) + Math.abs(y - drag.y) > 3) { drag.moved = true; }
    if (drag.draw) {
      var p = imageAt(x, y), s = drag.start;
      state.draft = [Math.min(s[0], p[0]), Math.min(s[1], p[1]), Math.max(s[0], p[0]), Math.max(s[1], p[1])];
    } else { state.tx = drag.tx + x - drag.x; state.ty = drag.ty + y - drag.y; }
    requestDraw();
  });
  function endDrag(e) {
    if (!drag) { return; }
    var rect = canvas.getBoundingClientRect(), x = e.clientX - rect.left, y = e.clientY - rect.top;
    if (drag.draw && state.draft) {
      var b = state.draft.map(Math.round);
      b = [Math.max(0, b[0]), Math.max(0, b[1]), Math.min(ROWS, Math.max(b[2], b[0] + 1)), Math.min(COLS, Math.max(b[3], b[1] + 1))];
      if (drag.moved) { state.drawn.push(b); drawnChanged(); }
      state.draft = null;
    } else if (!drag.moved) {
      var p = imageAt(x, y), hit = null;
      meta.objects.forEach(function (o) {
        var s = screenBox(o.bbox, 16);
        if (x >= s[0] && x <= s[2] && y >= s[1] && y <= s[3]) { hit = o.number; }
      });
      if (hit !== null) { select(hit); }
      void p;
    }
    drag = null;
    viewer.classList.remove("dragging");
    requestDraw();
  }
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("pointerleave", function () { readout.textContent = ""; });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    var rect = canvas.getBoundingClientRect(), unit = e.deltaMode === 1 ? 16 : (e.deltaMode === 2 ? 400 : 1);
    zoomAt(e.clientX - rect.left, e.clientY - rect.top, Math.exp(-e.deltaY * unit * 0.0015));
  }, { passive: false });
  function showReadout(x, y) {
    var p = imageAt(x, y), row = Math.floor(p[0]), col = Math.floor(p[1]);
    if (row < 0 || col < 0 || row >= ROWS || col >= COLS) { readout.textContent = ""; return; }
    var text = "row " + row + ", column " + col;
    if (meta.position_mm && meta.row_height_mm) {
      var x0 = meta.position_mm[0], x1 = meta.position_mm[1];
      var xmm = COLS > 1 ? x0 + (x1 - x0) * col / (COLS - 1) : x0;
      text += "  ·  x " + (xmm / 1000).toFixed(3) + " m, z " + (row * meta.row_height_mm / 1000).toFixed(3) + " m";
    }
    var cls = api.valueAt("classes", row, col);
    if (cls !== undefined) { text += "  ·  " + meta.classes[String(cls)].name; }
    if (state.layer !== "material") {
      var v = api.valueAt(state.layer, row, col), d = meta.layers[state.layer];
      if (v !== undefined) { text += "  ·  " + d.label + " " + (v === null ? "—" : v.toPrecision(4)) + (d.unit ? " " + d.unit : ""); }
    } else {
      var a = api.valueAt("high", row, col);
      if (a !== undefined) { text += "  ·  α_H " + (a === null ? "—" : a.toFixed(3)); }
    }
    readout.textContent = text;
  }
  var help = document.getElementById("help");
  function toggleHelp(show) { help.hidden = show === undefined ? !help.hidden : !show; }
  document.getElementById("help-button").addEventListener("click", function () { toggleHelp(); });
  document.addEventListener("keydown", function (e) {
    var target = e.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) { return; }
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var s = size(), step = (e.shiftKey ? 0.5 : 0.15), key = e.key, handled = true;
    var w = windowOf(state.layer), span = w[1] - w[0], mid = (w[0] + w[1]) / 2;
    if (key === "+" || key === "=") { zoomAt(s.w / 2, s.h / 2, 1.25); }
    else if (key === "-" || key === "_") { zoomAt(s.w / 2, s.h / 2, 0.8); }
    else if (key === "ArrowLeft") { state.tx += s.w * step; requestDraw(); }
    else if (key === "ArrowRight") { state.tx -= s.w * step; requestDraw(); }
    else if (key === "ArrowUp") { state.ty += s.h * step; requestDraw(); }
    else if (key === "ArrowDown") { state.ty -= s.h * step; requestDraw(); }
    else if (key === "0" || key === "Home") { select(null); fit(true); }
    else if (key === "f" || key === "F") { zoomAt(s.w / 2, s.h / 2, 1 / state.scale); }
    else if (key >= "1" && key <= "9") { var name = meta.layer_order[Number(key) - 1]; if (name) { setLayer(name); } }
    else if (key === "n" || key === "N") { cycle(1); }
    else if (key === "p" || key === "P") { cycle(-1); }
    else if (key === "w") { setWindow(state.layer, mid - span * 0.4, mid + span * 0.4); }
    else if (key === "W") { setWindow(state.layer, mid - span * 0.625, mid + span * 0.625); }
    else if (key === "l") { setWindow(state.layer, w[0] - span * 0.1, w[1] - span * 0.1); }
    else if (key === "L") { setWindow(state.layer, w[0] + span * 0.1, w[1] + span * 0.1); }
    else if (key === "r" || key === "R") { resetWindow(); }
    else if (key === "b" || key === "B") { state.showBoxes = !state.showBoxes; requestDraw(); }
    else if ((key === "d" || key === "D") && station) { toggleDrawing(); }
    else if (key === "?") { toggleHelp(); }
    else if (key === "Escape") { toggleHelp(false); if (state.drawing) { toggleDrawing(); } }
    else { handled = false; }
    if (handled) { e.preventDefault(); }
  });

  // ------------------------------------------------------------------ review station
  var drawToggle = document.getElementById("draw-toggle");
  function toggleDrawing() {
    state.drawing = !state.drawing;
    viewer.classList.toggle("drawing", state.drawing);
    drawToggle.textContent = state.drawing ? "stop drawing (D)" : "draw a box (D)";
  }
  function drawnChanged() {
    var list = document.getElementById("drawn");
    list.textContent = state.drawn.length ? state.drawn.length + " box(es) drawn: " +
      state.drawn.map(function (b) { return "[" + b.join(", ") + "]"; }).join(" ") : "";
    requestDraw();
  }
  function setupStation() {
    var panel = document.getElementById("decision");
    panel.hidden = false;
    if (station.verdict_sha256 && station.verdict_sha256 !== meta.verdict_sha256) {
      var stale = document.createElement("p");
      stale.className = "stale";
      stale.textContent = "This page was written for another verdict.json than the one in the folder now: " +
        "the decision is recorded against the verdict in the folder.";
      panel.insertBefore(stale, panel.firstChild.nextSibling);
    }
    var officer = document.getElementById("officer");
    officer.value = localStorage.getItem("nii-officer") || station.officer || "";
    drawToggle.addEventListener("click", toggleDrawing);
    document.getElementById("drawn-clear").addEventListener("click", function () { state.drawn = []; drawnChanged(); });
    var status = document.getElementById("decision-status");
    document.getElementById("decision-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var form = e.target, choice = form.querySelector("input[name=decision]:checked");
      var body = {
        officer: officer.value.trim(), decision: choice ? choice.value : "", note: document.getElementById("note").value,
        boxes: state.drawn, verdict_sha256: station.verdict_sha256 || meta.verdict_sha256
      };
      localStorage.setItem("nii-officer", body.officer);
      status.className = ""; status.textContent = "recording…";
      fetch(station.decide_url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" })
        .then(function (response) { return response.json().then(function (j) { return [response.ok, j]; }); })
        .then(function (result) {
          if (!result[0]) { throw new Error(result[1].error || "refused"); }
          status.textContent = "recorded (#" + result[1].id + ", " + result[1].decided_at + ")";
          state.drawn = []; drawnChanged();
          history();
        })
        .catch(function (error) { status.className = "error"; status.textContent = "not recorded: " + error.message; });
    });
    var nav = document.getElementById("queue-nav");
    var links = ['<a href="' + station.queue_url + '">queue</a>'];
    if (station.previous_url) { links.push('<a href="' + station.previous_url + '" id="previous-scan">previous</a>'); }
    if (station.next_url) { links.push('<a href="' + station.next_url + '" id="next-scan">next</a>'); }
    nav.innerHTML = links.join(" · ");
    history();
  }
  function history() {
    fetch(station.history_url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (items) {
      var list = document.getElementById("history");
      list.innerHTML = "";
      state.recorded = [];
      items.forEach(function (d) { (d.boxes || []).forEach(function (b) { state.recorded.push(b); }); });
      requestDraw();
      items.forEach(function (d) {
        var li = document.createElement("li");
        li.textContent = d.decided_at + " · " + d.officer + " · " + d.decision.replace("_", " ") +
          (d.note ? " · " + d.note : "") + (d.boxes && d.boxes.length ? " · " + d.boxes.length + " box(es)" : "") +
          (d.verdict_sha256 !== (station.verdict_sha256 || meta.verdict_sha256) ? " (another verdict)" : "");
        list.appendChild(li);
      });
    });
  }

  // ------------------------------------------------------------------ start
  function failed(error) {
    api.errors.push(String(error && error.message || error));
    loading.hidden = false;
    loading.textContent = "the image could not be loaded: " + (error && error.message || error);
    throw error;
  }
  for (var i = 0; i < NTILES; i++) {
    var c = document.createElement("canvas"), c0 = i * TILE, width = Math.min(TILE, COLS - c0);
    c.width = width; c.height = ROWS;
    tiles.push({ canvas: c, context: c.getContext("2d"), c0: c0, width: width, key: null });
  }
  if (station) { setupStation(); }
  syncControls();
  fit(false);
  new ResizeObserver(function () { requestDraw(); }).observe(viewer);
  setLayer("material").then(function () {
    fit(false);
    api.ready = true;
    document.body.dataset.ready = "1";
    performance.mark("nii-review-ready");
    // the other layers are fetched in the background, one at a time
    var rest = [];
    meta.layer_order.forEach(function (name) {
      sourcesOf(name).forEach(function (s) { if (rest.indexOf(s) < 0 && !pending[s]) { rest.push(s); } });
    });
    (function next() {
      if (!rest.length) { return; }
      var name = rest.shift();
      setTimeout(function () { load(name).then(next, next); }, 50);
    })();
  });
})();
