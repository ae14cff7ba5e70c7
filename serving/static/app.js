// The clinic page: the plan on the face chart, the patient form, and the answers that follow them.

import { apiKey, fieldErrors, getJson, post, schemaOf, setApiKey } from "./api.js";
import { renderSchedule, renderSuggestion } from "./advice.js";
import { createChart, nearestMuscle } from "./chart.js";
import { buildFields, clearErrors, showErrors } from "./form.js";
import { renderAnswer } from "./results.js";

const $ = (id) => document.getElementById(id);
const words = (name) => name.replaceAll("_", " ");
const DEBOUNCE_MS = 120; // a drag sends at most one request per pause, not one per pixel

const state = {
  points: [], selected: -1, suggestion: null, warnings: [], history: [], answers: 0,
  timer: 0, inflight: null,
};
let config;
let schemas;
let chart;
let readPatient;
let readPlanFields;

function muscleOf(name) {
  return config.muscles.find((m) => m.name === name);
}

// A new point's units: half the muscle's reference dose in the plan's product (a start to edit).
function defaultUnits(muscle) {
  const product = readPlanFields().product;
  const units = muscleOf(muscle).reference_dose_u_eq / 2 / (config.unit_factor[product] || 1);
  return Math.max(0.5, Math.round(units * 2) / 2);
}

function request() {
  return {
    patient: readPatient(),
    plan: { ...readPlanFields(), injections: state.points },
    history: state.history.map((h) => h.read()),
  };
}

// Each warning beside the point it is about: the lowest point of its muscle and side, or every
// point of its region for a region's dose.
function warningsByPoint(warnings) {
  const out = state.points.map(() => []);
  for (const w of warnings) {
    const mine = state.points.map((p, i) => [p, i]).filter(([p]) => (w.muscle
      ? p.muscle === w.muscle && p.side === w.side : muscleOf(p.muscle).region === w.region));
    if (w.muscle) mine.sort(([a], [b]) => a.y_mm - b.y_mm).splice(1);
    for (const [, i] of mine) out[i].push(w.message);
  }
  return out;
}

function draw() {
  chart.render(state.points, state.warnings, state.suggestion, state.selected);
  document.querySelectorAll("#points tbody tr").forEach((tr, i) => {
    tr.classList.toggle("selected", i === state.selected);
    tr.querySelector(".point-warn").textContent = (state.warnings[i] || []).join(" ");
  });
}

function pointRow(p, i) {
  const tr = document.createElement("tr");
  const cell = (...nodes) => {
    const td = document.createElement("td");
    td.append(...nodes);
    tr.append(td);
    return td;
  };
  const error = (field) => {
    const span = document.createElement("span");
    span.className = "field-error";
    span.dataset.errorFor = `plan.injections[${i}]${field ? `.${field}` : ""}`;
    return span;
  };
  const select = (field, values) => {
    const s = document.createElement("select");
    for (const v of values) s.append(new Option(words(v), v));
    s.value = p[field];
    s.dataset.path = `plan.injections[${i}].${field}`;
    s.setAttribute("aria-label", `point ${i + 1} ${field}`);
    s.addEventListener("change", () => { p[field] = s.value; changed(true); });
    return s;
  };
  const injection = schemas.Injection.properties;
  cell(String(i + 1), error(""));
  cell(select("muscle", injection.muscle.enum), error("muscle"));
  cell(select("side", injection.side.enum), error("side"));
  const units = document.createElement("input");
  Object.assign(units, { type: "number", step: "any", value: p.units,
    max: injection.units.maximum });
  units.dataset.path = `plan.injections[${i}].units`;
  units.setAttribute("aria-label", `point ${i + 1} units`);
  units.addEventListener("input", () => { p.units = Number(units.value); changed(false); });
  cell(units, error("units"));
  cell(`${p.x_mm}, ${p.y_mm}`).className = "xy";
  const button = (text, action) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.setAttribute("aria-label", `${text} point ${i + 1}`);
    b.addEventListener("click", action);
    return b;
  };
  const warn = document.createElement("span");
  warn.className = "point-warn warning";
  cell(button("Mirror", () => mirror(i)), button("Delete", () => removePoint(i)), warn);
  return tr;
}

function rebuildTable() {
  $("points").tBodies[0].replaceChildren(...state.points.map(pointRow));
}

// The plan changed: redraw, forget a suggestion made for the old plan, ask again (debounced).
function changed(table) {
  if (table) rebuildTable();
  state.suggestion = null;
  $("apply").disabled = true;
  draw();
  clearTimeout(state.timer);
  state.timer = setTimeout(predict, DEBOUNCE_MS);
}

function addPoint(muscle, side, x, y) {
  state.points.push({ muscle, side, units: defaultUnits(muscle), x_mm: x, y_mm: y, depth: null });
  state.selected = state.points.length - 1;
  changed(true);
}

function mirror(i) {
  const p = state.points[i];
  const side = { left: "right", right: "left" }[p.side] || p.side;
  state.points.push({ ...p, side, x_mm: -p.x_mm });
  changed(true);
}

function removePoint(i) {
  state.points.splice(i, 1);
  state.selected = -1;
  state.warnings = [];
  changed(true);
}

function movePoint(i, x, y) {
  const p = state.points[i];
  Object.assign(p, { x_mm: x, y_mm: y });
  const xy = document.querySelectorAll("#points tbody tr")[i]?.querySelector(".xy");
  if (xy) xy.textContent = `${x}, ${y}`;
  changed(false);
}

async function predict() {
  if (!state.points.length) {
    $("status").textContent = "Add points to see the risk.";
    $("answer").hidden = true;
    return;
  }
  state.inflight?.abort();
  const controller = new AbortController();
  state.inflight = controller;
  $("status").textContent = "Asking the model…";
  let r;
  const asked = performance.now();
  try {
    r = await post("/v1/predict", request(), controller.signal);
  } catch (e) {
    if (e.name !== "AbortError") $("status").textContent = `No answer from the server: ${e}`;
    return;
  }
  if (controller.signal.aborted) return;
  performance.measure("api-answer", { start: asked, end: r.answeredAt });
  if (!answered(r)) return;
  state.warnings = warningsByPoint(r.body.warnings);
  renderAnswer(r.body, config);
  draw();
  $("status").textContent = `Model ${r.body.model.name} v${r.body.model.version}.`;
  state.answers += 1;
  document.body.dataset.answers = String(state.answers);
  // From the API's answer to the frame that shows the new risk (the page's own time).
  requestAnimationFrame(() => performance.measure("risk-shown",
    { start: r.answeredAt, end: performance.now() }));
}

// Shows a 401 or 422 where it belongs; true for an answer to draw.
function answered(r) {
  if (r.status === 200) {
    clearErrors();
    $("plan-errors").textContent = "";
    return true;
  }
  if (r.status === 401) {
    $("status").textContent = "Type the clinic's API key at the top of the page.";
    $("api-key").focus();
  } else if (r.status === 422) {
    showErrors(fieldErrors(r.body), $("plan-errors"));
    $("status").textContent = "Some values are not accepted: see beside the fields.";
  } else {
    $("status").textContent = `The server answered ${r.status}.`;
  }
  return false;
}

async function suggest() {
  $("suggestion").textContent = "Searching for a safer plan…";
  const r = await post("/v1/recommend", request());
  if (!answered(r)) {
    $("suggestion").textContent = "";
    return;
  }
  state.suggestion = r.body;
  renderSuggestion($("suggestion"), r.body, state.points);
  $("apply").disabled = r.body.status !== "improved";
  draw();
}

function apply() {
  const plan = state.suggestion.suggested_plan;
  state.points = plan.injections.map((p) => ({ ...p }));
  $("suggestion").textContent = "Suggestion applied.";
  changed(true);
}

async function schedule() {
  const day = $("treatment-date").value || null;
  const r = await post("/v1/schedule", { ...request(), treatment_date: day });
  if (answered(r)) renderSchedule($("timeline"), r.body);
}

function addHistory() {
  const k = state.history.length;
  const plan = { ...readPlanFields(), injections: state.points.map((p) => ({ ...p })) };
  const box = document.createElement("fieldset");
  box.append(Object.assign(document.createElement("legend"),
    { textContent: `Earlier treatment ${k + 1} (${plan.injections.length} points)` }));
  const readDays = buildFields(box, schemas.EarlierTreatment, `history[${k}]`,
    { days_before: 120 }, ["plan", "review", "durations"]);
  const known = Object.assign(document.createElement("input"), { type: "checkbox",
    id: `history-${k}-review` });
  const label = Object.assign(document.createElement("label"),
    { htmlFor: known.id, textContent: " its review is known" });
  const review = document.createElement("div");
  review.hidden = true;
  const readReview = buildFields(review, schemas.Review, `history[${k}].review`);
  known.addEventListener("change", () => { review.hidden = !known.checked; changed(false); });
  box.append(known, label, review);
  box.addEventListener("change", () => changed(false));
  $("history-list").append(box);
  state.history.push({ read: () => ({ ...readDays(), plan,
    review: known.checked ? readReview() : null, durations: [] }) });
  changed(false);
}

function wire() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey($("api-key").value.trim());
    $("api-key").value = "";
    $("key-state").textContent = apiKey() ? "Key set for this tab." : "No key.";
    changed(false);
  });
  $("key-state").textContent = apiKey() ? "Key set for this tab." : "";
  const addMuscle = $("add-muscle");
  for (const m of config.muscles) addMuscle.append(new Option(words(m.name), m.name));
  for (const s of schemas.Injection.properties.side.enum) $("add-side").append(new Option(s, s));
  $("add-point").addEventListener("click", () => {
    const m = muscleOf(addMuscle.value);
    const side = $("add-side").value;
    const [x, y] = m.usual_site;
    addPoint(m.name, side, side === "right" ? -x : side === "left" ? x : 0, y);
  });
  $("patient-form").addEventListener("input", () => changed(false));
  $("plan-fields").addEventListener("input", () => changed(false));
  $("suggest").addEventListener("click", suggest);
  $("apply").addEventListener("click", apply);
  $("schedule").addEventListener("click", schedule);
  $("add-history").addEventListener("click", addHistory);
}

async function start() {
  const [cfg, openapi] = await Promise.all([getJson("/page/config.json"),
    getJson("/openapi.json")]);
  config = cfg;
  schemas = Object.fromEntries(["Patient", "Plan", "Injection", "Review", "EarlierTreatment"]
    .map((n) => [n, schemaOf(openapi, n)]));
  readPatient = buildFields($("patient-form"), schemas.Patient, "patient");
  readPlanFields = buildFields($("plan-fields"), schemas.Plan, "plan",
    { dilution_ml_per_100u: 2.5 }, ["injections"]);
  chart = createChart($("chart"), config, {
    add: (x, y) => {
      const { muscle, side } = nearestMuscle(config, x, y);
      addPoint(muscle, side, x, y);
    },
    move: (i, x, y) => movePoint(i, x, y),
    nudge: (i, dx, dy) => movePoint(i, state.points[i].x_mm + dx, state.points[i].y_mm + dy),
    select: (i) => { state.selected = i; draw(); },
    remove: removePoint,
  });
  wire();
  draw();
  performance.mark("page-ready");
  document.body.dataset.ready = "true";
}

// Read by the browser tests and the benchmark: the plan as the page will send it.
window.asymPage = { request: () => request(), state };
start();
