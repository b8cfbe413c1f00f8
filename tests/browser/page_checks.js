// What a person checks on a run's page, as functions the browser tests call over the
// DevTools protocol (harness.reports.devtools). Evaluated once per page: window.glm.
window.glm = (() => {
  const visible = (e) =>
    e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const name = (e) =>
    e.tagName.toLowerCase() + (e.className && typeof e.className === "string"
      ? "." + e.className.trim().split(/\s+/).join(".") : "");
  const inside = (r, box, slack = 0.5) =>
    r.left >= box.left - slack && r.right <= box.right + slack &&
    r.top >= box.top - slack && r.bottom <= box.bottom + slack;
  const overlap = (a, b) =>
    Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) *
    Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  const suites = () => [...document.querySelectorAll("section.matrix-suite")];
  const suiteName = (s) => s.querySelector("h3").textContent.replace(/^Suite /, "");

  return {
    // per suite, the case ids of the rows a person sees
    cases() {
      const out = {};
      for (const s of suites()) {
        out[suiteName(s)] = [...s.querySelectorAll("tbody tr.case")]
          .filter(visible).map((r) => r.querySelector("th").textContent);
      }
      return out;
    },
    // per suite, per shown case, the outcome word of each shown cell ("" for hidden ones)
    cells() {
      const out = {};
      for (const s of suites()) {
        const rows = {};
        for (const r of s.querySelectorAll("tbody tr.case")) {
          if (!visible(r)) continue;
          rows[r.querySelector("th").textContent] = [...r.querySelectorAll("td")]
            .filter(visible)
            .map((td) => { const b = td.querySelector("summary b");
              return b && visible(b) ? b.textContent : ""; });
        }
        out[suiteName(s)] = rows;
      }
      return out;
    },
    columns() {
      const out = {};
      for (const s of suites()) {
        out[suiteName(s)] = [...s.querySelectorAll("thead th.col")].filter(visible)
          .map((th) => [...th.querySelectorAll("span:not(.flips):not(.mark)")]
            .map((x) => x.textContent).join(" "));
      }
      return out;
    },
    // click a filter's checkbox (on or off); returns the rows shown afterwards
    filter(id, on) {
      const box = document.getElementById(id);
      if (box.checked !== on) document.querySelector(`label[for="${id}"]`).click();
      if (box.checked !== on) throw new Error(`the label did not toggle ${id}`);
      return this.cases();
    },
    // open the first cell of `suite` whose outcome is `outcome`, as a click would;
    // returns what its panel shows first: the why lines and the failing checks
    open(suite, outcome) {
      const s = suites().find((x) => suiteName(x) === suite);
      const td = s.querySelector(`td.o-${outcome}`);
      const summary = td.querySelector("summary");
      summary.scrollIntoView();
      summary.click();
      const panel = td.querySelector(".panel");
      return {
        case: td.parentElement.querySelector("th").textContent,
        open: td.querySelector("details").open,
        panel: visible(panel),
        why: [...panel.querySelectorAll(".why")].filter(visible).map((p) => p.textContent),
        failing: [...panel.querySelectorAll(".check-fail")].filter(visible)
          .map((li) => li.textContent),
        texts: [...panel.querySelectorAll("pre")].filter(visible).map((p) => p.textContent),
        inView: panel.querySelector(".why") ?
          panel.querySelector(".why").getBoundingClientRect().top < innerHeight : false,
      };
    },
    openAll() {
      for (const d of document.querySelectorAll("details")) d.open = true;
      return document.querySelectorAll("details").length;
    },
    // every box whose text is wider than it, and every text outside its box
    overflowing() {
      const bad = [];
      const root = document.documentElement;
      if (root.scrollWidth > root.clientWidth + 1) bad.push(`page: ${root.scrollWidth}px wide`);
      for (const e of document.body.querySelectorAll("*")) {
        if (e.closest("svg") || !e.getClientRects().length) continue;
        const display = getComputedStyle(e).display;
        if (display === "inline" || display === "contents") continue;
        if (e.matches(".scroll, .chart-box")) continue; // meant to scroll sideways
        if (e.scrollWidth > e.clientWidth + 1) {
          bad.push(`${name(e)}: ${e.scrollWidth} > ${e.clientWidth}: ${e.textContent.slice(0, 60)}`);
        }
      }
      const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let node = walk.nextNode(); node; node = walk.nextNode()) {
        if (!node.textContent.trim() || node.parentElement.closest("svg, style, title")) continue;
        let box = node.parentElement;
        while (["inline", "contents"].includes(getComputedStyle(box).display)) {
          box = box.parentElement;
        }
        if (!visible(box)) continue;
        const outer = box.getBoundingClientRect();
        const range = document.createRange();
        range.selectNodeContents(node);
        for (const r of range.getClientRects()) {
          if (r.width && (r.left < outer.left - 1 || r.right > outer.right + 1)) {
            bad.push(`text outside ${name(box)}: ${node.textContent.slice(0, 60)}`);
            break;
          }
        }
      }
      return bad;
    },
    // every chart: its texts inside it, point labels and x tick names apart, points apart
    charts() {
      const out = [];
      for (const svg of document.querySelectorAll("svg.chart")) {
        const box = svg.getBoundingClientRect();
        const bad = [];
        for (const t of svg.querySelectorAll("text")) {
          const r = t.getBoundingClientRect();
          if (r.width && !inside(r, box)) bad.push(`outside: ${t.textContent}`);
        }
        for (const kind of [".point-label", ".axes text.tick"]) {
          const rects = [...svg.querySelectorAll(kind)].map((t) => [t, t.getBoundingClientRect()]);
          for (let i = 0; i < rects.length; i++) {
            for (let j = i + 1; j < rects.length; j++) {
              if (overlap(rects[i][1], rects[j][1]) > 1) {
                bad.push(`overlap: ${rects[i][0].textContent} / ${rects[j][0].textContent}`);
              }
            }
          }
        }
        const points = [...svg.querySelectorAll(".point")].map((p) => {
          const r = p.getBoundingClientRect();
          return [r.left + r.width / 2, r.top + r.height / 2];
        });
        for (let i = 0; i < points.length; i++) {
          for (let j = i + 1; j < points.length; j++) {
            if (Math.hypot(points[i][0] - points[j][0], points[i][1] - points[j][1]) < 6) {
              bad.push(`points ${i} and ${j} on top of each other`);
            }
          }
        }
        const labels = [...svg.querySelectorAll(".axis-label")].map((t) => t.textContent);
        out.push({ kind: svg.getAttribute("class"), points: points.length, labels, bad });
      }
      return out;
    },
  };
})();
"ready";
