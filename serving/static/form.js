// Forms built from the request's OpenAPI schema: one field per property, with its type, unit,
// allowed range or values and description, and a place beside it for the server's 422.

const words = (name) => name.replaceAll("_", " ");
const UNKNOWN = "";

function unitOf(schema) {
  const m = /Unit: ([^.]+)\./.exec(schema.description || "");
  return m ? m[1] : "";
}

function inputFor(schema, path, value) {
  let input;
  if (schema.enum || schema.type === "boolean") {
    input = document.createElement("select");
    const options = schema.enum || ["true", "false"];
    if (schema.nullable) input.append(new Option("unknown", UNKNOWN));
    for (const v of options) {
      input.append(new Option(schema.enum ? words(v) : { true: "yes", false: "no" }[v], v));
    }
    input.value = value === null || value === undefined ? (schema.nullable ? UNKNOWN : options[0])
      : String(value);
  } else {
    input = document.createElement("input");
    input.type = "number";
    input.step = schema.type === "integer" ? "1" : "any";
    // min/max only inform the browser's spinner: the form is sent as typed (novalidate), so an
    // out-of-range value reaches the server and its 422 is shown beside the field.
    if (schema.minimum !== undefined) input.min = schema.minimum;
    if (schema.maximum !== undefined) input.max = schema.maximum;
    if (value !== null && value !== undefined) input.value = value;
  }
  input.dataset.path = path;
  input.dataset.kind = schema.type;
  return input;
}

function readInput(input) {
  const raw = input.value;
  if (raw === UNKNOWN) return null;
  if (input.dataset.kind === "boolean") return raw === "true";
  if (input.tagName === "SELECT") return raw;
  return Number(raw);
}

// Fields of one object schema under `prefix` (a request path such as "patient" or
// "history[0].review"); returns a function that reads the values as the API takes them.
export function buildFields(container, schema, prefix, values = {}, skip = []) {
  const inputs = {};
  for (const [name, s] of Object.entries(schema.properties)) {
    if (skip.includes(name) || s.type === "array") continue;
    const path = prefix ? `${prefix}.${name}` : name;
    const id = `f-${path.replace(/[^a-z0-9]+/gi, "-")}`;
    const row = document.createElement("div");
    row.className = "field";
    const label = document.createElement("label");
    label.htmlFor = id;
    const unit = unitOf(s);
    label.textContent = words(name).replace(/ mm$| ml per 100u$/, "") + (unit ? ` (${unit})` : "");
    const input = inputFor(s, path, values[name]);
    input.id = id;
    input.title = s.description || "";
    if (schema.required.includes(name)) input.required = true;
    const error = document.createElement("span");
    error.className = "field-error";
    error.dataset.errorFor = path;
    error.id = `${id}-error`;
    input.setAttribute("aria-describedby", error.id);
    row.append(label, input, error);
    container.append(row);
    inputs[name] = input;
  }
  return () => {
    const out = {};
    for (const [name, input] of Object.entries(inputs)) {
      const v = readInput(input);
      // An empty required field is sent as absent: the server names it as required.
      if (v === null && !schema.properties[name].nullable) continue;
      out[name] = v;
    }
    return out;
  };
}

// Show each error beside the field its path names (or in `fallback` when no field has it).
export function showErrors(errors, fallback) {
  clearErrors();
  const unplaced = [];
  for (const e of errors) {
    const spot = document.querySelector(`[data-error-for="${CSS.escape(e.path)}"]`);
    if (spot) {
      spot.textContent = e.message;
      const input = document.querySelector(`[data-path="${CSS.escape(e.path)}"]`);
      if (input) input.setAttribute("aria-invalid", "true");
    } else {
      unplaced.push(e.path ? `${e.path}: ${e.message}` : e.message);
    }
  }
  fallback.textContent = unplaced.join(" ");
}

export function clearErrors() {
  for (const spot of document.querySelectorAll("[data-error-for]")) spot.textContent = "";
  for (const input of document.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
  }
}
