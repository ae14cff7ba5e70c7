// The face chart: a frontal face in the atlas frame (mm; x toward the patient's left, which is
// the viewer's right; y upward), its muscles from /page/config.json, and the plan's points.

const NS = "http://www.w3.org/2000/svg";
// The drawing's window in mm: wide enough for the masseters, tall enough for the neck bands.
export const VIEW = { x0: -95, x1: 95, yTop: 80, yBottom: -145 };

export function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function title(node, text) {
  el("title", {}, node).textContent = text;
}

const words = (name) => name.replaceAll("_", " ");

// Both sides of a structure stored for the left: [side, x] pairs (one on the midline).
function sides(paired, x) {
  return paired ? [["left", x], ["right", -x]] : [["midline", x]];
}

// The muscle and side a point at (x, y) most likely targets: the nearest muscle in units of its
// spread (the atlas Gaussian), the side from where it lies.
export function nearestMuscle(config, x, y) {
  let best = null;
  for (const m of config.muscles) {
    for (const [side, cx] of sides(m.paired, m.blob.x)) {
      const d = ((x - cx) / m.blob.sd_x) ** 2 + ((y - m.blob.y) / m.blob.sd_y) ** 2;
      if (!best || d < best.d) best = { d, muscle: m.name, side };
    }
  }
  return { muscle: best.muscle, side: best.side };
}

function drawFace(svg, config) {
  const land = config.landmarks;
  const levator = config.risk_structures.find((s) => s.name === "levator_palpebrae").blob;
  const face = el("g", { class: "face", "aria-hidden": "true" }, svg);
  // Outline and neck are a drawing, not data; the features below come from the atlas.
  el("ellipse", { cx: 0, cy: 15, rx: 72, ry: 92 }, face);
  el("path", { d: "M -38 95 L -44 145 M 38 95 L 44 145" }, face);
  for (const s of [1, -1]) {
    const eyeX = s * levator.x;
    el("ellipse", { class: "eye", cx: eyeX, cy: 0, rx: 2 * levator.sd_x, ry: 5 }, face);
    el("circle", { class: "pupil", cx: eyeX, cy: 0, r: 3 }, face);
    const brow = -land.brow_line_y_mm;
    el("path", { class: "brow", d: `M ${s * 8} ${brow} Q ${s * 30} ${brow - 6} ${s * 52} ${brow}` },
      face);
  }
  const [cx, cy] = land.commissure_xy_mm;
  el("path", { class: "mouth", d: `M ${-cx} ${-cy} Q 0 ${-cy + 6} ${cx} ${-cy}` }, face);
  el("path", { d: "M 0 -2 L -4 36 Q 0 40 4 36" }, face);
  const safe = -(land.brow_line_y_mm + land.safe_frontalis_above_brow_mm);
  const line = el("line", { class: "safe", x1: -60, x2: 60, y1: safe, y2: safe }, face);
  title(line, "lowest safe frontalis height");
  el("text", { class: "side-label", x: VIEW.x0 + 4, y: -VIEW.yTop + 10 }, svg).textContent =
    "R";
  el("text", { class: "side-label", x: VIEW.x1 - 12, y: -VIEW.yTop + 10 }, svg).textContent =
    "L";
}

function drawMuscles(svg, config) {
  const layer = el("g", { class: "muscles" }, svg);
  for (const m of config.muscles) {
    for (const [side, x] of sides(m.paired, m.blob.x)) {
      const e = el("ellipse", {
        class: `muscle region-${m.region}`, cx: x, cy: -m.blob.y,
        rx: 1.5 * m.blob.sd_x, ry: 1.5 * m.blob.sd_y, "data-muscle": m.name, "data-side": side,
      }, layer);
      title(e, `${words(m.name)} (${side}; ${words(m.region)})`);
    }
  }
  for (const s of config.risk_structures) {
    for (const [side, x] of sides(true, s.blob.x)) {
      const e = el("ellipse", {
        class: "risk-structure", cx: x, cy: -s.blob.y,
        rx: 1.5 * s.blob.sd_x, ry: 1.5 * s.blob.sd_y,
      }, layer);
      title(e, `${words(s.name)} (${side}): keep the toxin away`);
    }
  }
}

// The chart; handlers: add(x, y), move(index, x, y, done), select(index), remove(index).
export function createChart(container, config, handlers) {
  const height = VIEW.yTop - VIEW.yBottom;
  const svg = el("svg", {
    viewBox: `${VIEW.x0} ${-VIEW.yTop} ${VIEW.x1 - VIEW.x0} ${height}`,
    role: "application", "aria-label": "Face chart: click to add an injection point",
    id: "face",
  }, container);
  drawFace(svg, config);
  drawMuscles(svg, config);
  const ghosts = el("g", { class: "ghosts" }, svg);
  const points = el("g", { class: "plan-points" }, svg);

  const toMm = (event) => {
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(
      svg.getScreenCTM().inverse());
    return [Math.round(p.x * 2) / 2, Math.round(-p.y * 2) / 2];
  };
  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    const g = event.target.closest(".point");
    if (g) {
      drag = { index: Number(g.dataset.index), moved: false };
      svg.setPointerCapture(event.pointerId);
      handlers.select(drag.index);
      event.preventDefault();
    }
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    drag.moved = true;
    const [x, y] = toMm(event);
    handlers.move(drag.index, x, y, false);
  });
  svg.addEventListener("pointerup", (event) => {
    if (drag) {
      if (drag.moved) handlers.move(drag.index, ...toMm(event), true);
      drag = null;
      return;
    }
    if (event.button === 0) handlers.add(...toMm(event));
  });
  svg.addEventListener("keydown", (event) => {
    const g = event.target.closest(".point");
    if (!g) return;
    const index = Number(g.dataset.index);
    const step = event.shiftKey ? 5 : 1;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step],
      ArrowDown: [0, -step] };
    if (moves[event.key]) {
      handlers.nudge(index, ...moves[event.key]);
      event.preventDefault();
    } else if (event.key === "Delete" || event.key === "Backspace") {
      handlers.remove(index);
      event.preventDefault();
    }
  });

  // Draw the plan: points with their units, the warnings beside the points they are about,
  // and the suggestion's changed points ghosted beside the originals.
  function render(plan, warnings, suggestion, selected) {
    points.replaceChildren();
    ghosts.replaceChildren();
    plan.forEach((p, i) => {
      const g = el("g", {
        class: `point${i === selected ? " selected" : ""}`, tabindex: 0, "data-index": i,
        transform: `translate(${p.x_mm} ${-p.y_mm})`, role: "button",
        "aria-label": `point ${i + 1}: ${words(p.muscle)} ${p.side}, ${p.units} U`,
      }, points);
      el("circle", { r: 4.5 }, g);
      el("text", { class: "units", y: 1.6 }, g).textContent = String(p.units);
      const mine = warnings[i] || [];
      if (mine.length) {
        const badge = el("g", { class: "warn-badge", transform: "translate(6 -6)" }, g);
        el("circle", { r: 3.2 }, badge);
        el("text", { y: 1.4 }, badge).textContent = "!";
        title(badge, mine.join("\n"));
      }
    });
    for (const c of suggestion ? suggestion.changes : []) {
      const p = plan[c.index];
      if (!p) continue;
      const x = c.x_mm_to ?? p.x_mm;
      const y = c.y_mm_to ?? p.y_mm;
      el("line", { class: "ghost-link", x1: p.x_mm, y1: -p.y_mm, x2: x, y2: -y }, ghosts);
      const g = el("g", { class: "ghost", transform: `translate(${x} ${-y})` }, ghosts);
      el("circle", { r: 4.5 }, g);
      el("text", { class: "units", y: 1.6 }, g).textContent = String(c.units_to);
      title(g, `suggested: ${c.units_from} → ${c.units_to} U, moved ${c.moved_mm} mm`);
    }
  }

  return { svg, render };
}
