/*
 * muscle-assets 360 viewer (no dependencies). Turns the muscle through its
 * orientation frames when the visitor drags (Pointer Events: mouse, pen, touch)
 * or presses the arrow keys. Markup comes from the `rotate-viewer` include:
 *   <div class="rotate-viewer" role="slider" data-frames="url1 url2 ..."><img></div>
 * or, with a sprite sheet, data-sprite, data-columns and data-frames (a count).
 * Licence: GPL-3.0-or-later (part of muscle-assets).
 */
(function () {
  "use strict";

  function setup(viewer) {
    if (viewer.dataset.rotateReady) return;
    viewer.dataset.rotateReady = "1";
    var sprite = viewer.dataset.sprite;
    var urls = sprite ? [] : (viewer.dataset.frames || "").split(/\s+/).filter(Boolean);
    var count = sprite ? parseInt(viewer.dataset.frames, 10) || 1 : urls.length;
    var columns = sprite ? parseInt(viewer.dataset.columns, 10) || count : 1;
    var rows = Math.ceil(count / columns);
    var img = viewer.querySelector("img");
    var sheet = viewer.querySelector(".rotate-viewer-sprite");
    var index = 0;
    var preloaded = false;
    var drag = null;

    if (count < 2) return;

    function preload() {
      if (preloaded) return;
      preloaded = true;
      if (sprite) {
        new Image().src = sprite;
        return;
      }
      urls.forEach(function (url) {
        var image = new Image();
        image.decoding = "async";
        image.src = url;
      });
    }

    function show(next) {
      index = ((next % count) + count) % count;
      if (sprite) {
        var col = index % columns;
        var row = Math.floor(index / columns);
        sheet.style.backgroundSize = columns * 100 + "% " + rows * 100 + "%";
        sheet.style.backgroundPosition =
          (columns > 1 ? (col / (columns - 1)) * 100 : 0) + "% " +
          (rows > 1 ? (row / (rows - 1)) * 100 : 0) + "%";
      } else if (img) {
        img.src = urls[index];
      }
      viewer.setAttribute("aria-valuenow", String(index + 1));
      viewer.setAttribute("aria-valuetext", "orientation " + (index + 1) + " of " + count);
      viewer.dataset.frame = String(index + 1);
    }

    function stepPixels() {
      // One drag across the whole viewer turns the muscle once around.
      return Math.max(4, viewer.getBoundingClientRect().width / count);
    }

    viewer.addEventListener("pointerdown", function (event) {
      if (event.button !== undefined && event.button !== 0) return;
      preload();
      drag = { id: event.pointerId, x: event.clientX, start: index };
      if (viewer.setPointerCapture) viewer.setPointerCapture(event.pointerId);
      event.preventDefault();
    });
    viewer.addEventListener("pointermove", function (event) {
      if (!drag || event.pointerId !== drag.id) return;
      var steps = Math.round((event.clientX - drag.x) / stepPixels());
      var target = (((drag.start + steps) % count) + count) % count;
      if (target !== index) show(target);
    });
    function end(event) {
      if (drag && event.pointerId === drag.id) drag = null;
    }
    viewer.addEventListener("pointerup", end);
    viewer.addEventListener("pointercancel", end);
    viewer.addEventListener("keydown", function (event) {
      var keys = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 };
      if (event.key in keys) {
        preload();
        show(index + keys[event.key]);
      } else if (event.key === "Home") {
        show(0);
      } else if (event.key === "End") {
        show(count - 1);
      } else {
        return;
      }
      event.preventDefault();
    });
    viewer.addEventListener("focus", preload);
    viewer.addEventListener("pointerenter", preload);
    if ("IntersectionObserver" in window) {
      var observer = new IntersectionObserver(function (entries) {
        if (entries.some(function (entry) { return entry.isIntersecting; })) {
          preload();
          observer.disconnect();
        }
      }, { rootMargin: "200px" });
      observer.observe(viewer);
    }
    show(0);
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".rotate-viewer"), setup);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
