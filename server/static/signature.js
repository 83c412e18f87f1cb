/* goldkey: the signature pad of a `format: signature` field (templates/_fields.html). An owner or tenant signs on
   the staff member's phone: the <canvas> takes the strokes of a finger, a pen or a mouse through Pointer Events
   (touch-action: none in app.css keeps the page from scrolling under the finger); 清除 empties it, and the signature
   kept before. When the form is sent, each pad drawn on is uploaded as a PNG to /api/signatures (with the session's
   CSRF token) and the id it answers goes into the field's hidden input; then the form is sent as the person pressed
   it (the same button, so the same outcome). The server checks everything again. Without this file the pad stays
   hidden and the field keeps what it held. */
(function () {
  "use strict";

  var WIDTH = 750, HEIGHT = 300, INK = "#10206b";

  function setupPad(box) {
    var input = box.querySelector('input[type="hidden"]'), canvas = box.querySelector("canvas");
    var wrap = box.querySelector(".pad-wrap"), hint = box.querySelector("[data-signature-hint]");
    var signed = box.querySelector("[data-signature-signed]"), error = box.querySelector("[data-signature-error]");
    var clear = box.querySelector("[data-signature-clear]");
    if (!input || !canvas || !canvas.getContext || !window.fetch || !window.FormData) return null;
    var ctx = canvas.getContext("2d"), drawn = false, active = null, last = null;
    canvas.width = WIDTH; canvas.height = HEIGHT;
    ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = INK; ctx.fillStyle = INK;
    wrap.hidden = false; clear.parentNode.hidden = false;

    function say(message) { error.textContent = message || ""; error.hidden = !message; box.classList.toggle("has-error", !!message); }
    function point(ev) {
      var r = canvas.getBoundingClientRect();
      return { x: (ev.clientX - r.left) * WIDTH / (r.width || 1), y: (ev.clientY - r.top) * HEIGHT / (r.height || 1),
               w: ev.pointerType === "pen" && ev.pressure > 0 ? 2 + ev.pressure * 6 : 4.5 };
    }
    function stroke(from, to) {
      ctx.lineWidth = (from.w + to.w) / 2;
      ctx.beginPath(); ctx.moveTo(from.x, from.y); ctx.lineTo(to.x, to.y); ctx.stroke();
    }
    function started() {
      if (!drawn) { drawn = true; hint.hidden = true; say(""); }
    }

    canvas.addEventListener("pointerdown", function (ev) {
      if (ev.button > 0 || active !== null) return;  // the primary button, finger or pen; one stroke at a time
      ev.preventDefault();
      if (canvas.setPointerCapture) { try { canvas.setPointerCapture(ev.pointerId); } catch (e) { /* gone */ } }
      active = ev.pointerId; last = point(ev);
      ctx.beginPath(); ctx.arc(last.x, last.y, last.w / 2, 0, 2 * Math.PI); ctx.fill();  // a dot is a stroke too
      started();
    });
    canvas.addEventListener("pointermove", function (ev) {
      if (ev.pointerId !== active) return;
      ev.preventDefault();
      var moves = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
      if (!moves.length) moves = [ev];
      for (var i = 0; i < moves.length; i++) { var p = point(moves[i]); stroke(last, p); last = p; }
    });
    function end(ev) { if (ev.pointerId === active) { active = null; last = null; } }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener("lostpointercapture", end);

    clear.addEventListener("click", function () {
      ctx.clearRect(0, 0, WIDTH, HEIGHT);
      drawn = false; input.value = ""; hint.hidden = false; say("");
      if (signed) signed.hidden = true;
      box.classList.remove("is-signed");
    });

    return {
      drawn: function () { return drawn; },
      say: say,
      upload: function (csrf) {  // a promise: resolved once the field holds the PNG's id, else rejected with words
        return new Promise(function (resolve, reject) {
          canvas.toBlob(function (blob) {
            if (!blob) { reject("簽名無法儲存，請清除後重新簽名"); return; }
            var body = new FormData();
            body.append("file", blob, "signature.png");
            fetch("/api/signatures", { method: "POST", credentials: "same-origin", body: body,
                                       headers: { "x-csrf-token": csrf, accept: "application/json" } })
              .then(function (resp) {
                return resp.json().then(function (data) { return [resp.ok, data]; }, function () { return [false, null]; });
              })
              .then(function (answer) {
                var data = answer[1];
                if (answer[0] && data && data.id) { input.value = data.id; drawn = false; box.classList.add("is-signed"); resolve(); }
                else reject((data && data.message) || "簽名上傳失敗，請再試一次");
              }, function () { reject("無法連線，簽名尚未上傳，請再試一次"); });
          }, "image/png");
        });
      }
    };
  }

  function setupForm(form, pads) {
    var busy = false;
    form.addEventListener("submit", function (ev) {
      var submitter = ev.submitter || null;
      if (submitter && submitter.hasAttribute("formaction")) return;  // a printout's download: nothing is signed
      var drawn = pads.filter(function (p) { return p.drawn(); });
      if (!drawn.length) return;
      ev.preventDefault();
      if (busy) return;
      busy = true;
      if (submitter) submitter.disabled = true;
      var token = form.querySelector('input[name="csrf"]'), csrf = token ? token.value : "";
      var failed = null;
      drawn.reduce(function (chain, pad) {
        return chain.then(function () { failed = pad; pad.say(""); return pad.upload(csrf); });
      }, Promise.resolve()).then(function () {
        busy = false;
        if (submitter) submitter.disabled = false;  // (a disabled button would not send its outcome)
        if (form.requestSubmit) { if (submitter) form.requestSubmit(submitter); else form.requestSubmit(); }
        else {
          if (submitter && submitter.name) {
            var carried = document.createElement("input");
            carried.type = "hidden"; carried.name = submitter.name; carried.value = submitter.value;
            form.appendChild(carried);
          }
          form.submit();
        }
      }, function (message) {
        busy = false;
        if (submitter) submitter.disabled = false;
        if (failed) failed.say(String(message));
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form");
    for (var i = 0; i < forms.length; i++) {
      var boxes = forms[i].querySelectorAll("[data-signature]"), pads = [];
      for (var j = 0; j < boxes.length; j++) { var pad = setupPad(boxes[j]); if (pad) pads.push(pad); }
      if (pads.length) setupForm(forms[i], pads);
    }
  });
})();
