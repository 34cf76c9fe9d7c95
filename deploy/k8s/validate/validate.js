#!/usr/bin/env node
// Validates every object of rendered Kubernetes manifests (a YAML stream, as
// `kubectl kustomize` prints it) against the API schemas of the pinned npm
// packages kubernetes-models (core and apps/batch/networking/... groups) and
// @kubernetes-models/prometheus-operator (ServiceMonitor, PodMonitor...):
//
//   * each object's apiVersion/kind must map to a model: an unknown kind (or
//     a kind under the wrong apiVersion) is an error;
//   * the model's JSON schema: types, enums, formats, required fields;
//   * strict mode (as kubeconform --strict): a field the schema does not
//     define is an error. The packages' validators accept unknown fields, so
//     each object is validated through a Proxy that records which fields the
//     compiled validator reads: it reads every field its schema defines
//     (properties, and every key of a map-typed field), so a field it never
//     read is one the schema does not know (`readinesProbe`, `contianers`).
//
//   node validate.js [FILE]      (FILE or stdin; exit 1 on any error)
//   node validate.js --self-test (strict mode against the packages' .d.ts)
//
// The self-test is what makes strict mode trustworthy: for every type of the
// packages (~900), it builds an object with every property the type's
// TypeScript interface declares and checks the type's validator reads each
// one. The only exceptions, exempt from strict mode, are `description` (a
// few types: PriorityClass, CRD schemas) and CRD schemas' `x-kubernetes-*`.
//
// Prints one line per error, "<Kind> <namespace>/<name>: <path>: <message>",
// then "validate: N objects, M errors".
"use strict";

const fs = require("fs");
const path = require("path");
const yaml = require("js-yaml");

const KUBERNETES_MODELS = path.dirname(require.resolve("kubernetes-models/package.json"));
const PROMETHEUS_OPERATOR = path.dirname(
  require.resolve("@kubernetes-models/prometheus-operator/package.json"));

// apiVersion + kind -> the model class, or an error message.
function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !apiVersion || !kind) {
    return { error: "apiVersion and kind must be non-empty strings" };
  }
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(kind) || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) {
    return { error: `unknown kind ${kind} in ${apiVersion}` };
  }
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  const root = group === "monitoring.coreos.com" ? PROMETHEUS_OPERATOR : KUBERNETES_MODELS;
  const file = group ? path.join(root, group, version, kind + ".js")
                     : path.join(root, version, kind + ".js");
  if (!fs.existsSync(file)) {
    return { error: `unknown kind ${kind} in ${apiVersion} (no model in ` +
                    `${group === "monitoring.coreos.com" ? "@kubernetes-models/prometheus-operator"
                                                         : "kubernetes-models"})` };
  }
  const cls = require(file)[kind];
  if (typeof cls !== "function" || cls.kind !== kind || cls.apiVersion !== apiVersion ||
      typeof cls.prototype.validate !== "function") {
    return { error: `unknown kind ${kind} in ${apiVersion} (not a top-level model)` };
  }
  return { cls };
}

// A deep Proxy of `data` that records, per object node (by JSON pointer), the
// keys the validator read.
function tracked(data, pointer, reads) {
  if (data === null || typeof data !== "object") return data;
  if (!Array.isArray(data) && !reads.has(pointer)) reads.set(pointer, new Set());
  const children = new Map();
  return new Proxy(data, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof key !== "string" || !Object.prototype.hasOwnProperty.call(target, key)) {
        return value;
      }
      if (!Array.isArray(target)) reads.get(pointer).add(key);
      if (value === null || typeof value !== "object") return value;
      if (!children.has(key)) {
        children.set(key, tracked(value, pointer + "/" + escapePointer(key), reads));
      }
      return children.get(key);
    },
  });
}

function escapePointer(key) {
  return String(key).replace(/~/g, "~0").replace(/\//g, "~1");
}

// Declared fields some validators never read (found by --self-test).
function exempt(key) {
  return key === "description" || key.startsWith("x-kubernetes-");
}

// Fields of `data` the validator never read: "/spec/template/.../readinesProbe".
function unreadFields(data, pointer, reads, out) {
  if (data === null || typeof data !== "object") return;
  if (Array.isArray(data)) {
    data.forEach((v, i) => unreadFields(v, pointer + "/" + i, reads, out));
    return;
  }
  const read = reads.get(pointer);
  // Never looked into (e.g. a type error above it, or a field the schema
  // leaves untyped): the schema error, if any, already says so.
  if (!read) return;
  for (const key of Object.keys(data)) {
    const child = pointer + "/" + escapePointer(key);
    if (read.has(key)) {
      unreadFields(data[key], child, reads, out);
    } else if (!exempt(key)) {
      out.push(child);
    }
  }
}

function ajvMessage(e) {
  const p = e.params || {};
  switch (e.keyword) {
    case "required": return `required field "${p.missingProperty}" is missing`;
    case "type": return `must be ${p.type}`;
    case "enum": return `must be one of ${JSON.stringify(p.allowedValues)}`;
    case "format": return `must match format "${p.format}"`;
    case "pattern": return `must match pattern ${p.pattern}`;
    case "minimum": case "maximum": return `must be ${p.comparison} ${p.limit}`;
    case "oneOf": case "anyOf": return "must match exactly one allowed schema";
    default: return e.message || `fails "${e.keyword}" ${JSON.stringify(p)}`;
  }
}

// kustomize v5 wraps a Secret's base64 values over several lines; the API
// server's decoder (Go's encoding/base64) skips the newlines, the "byte"
// format check does not.
function unwrapBase64(obj) {
  for (const field of obj.kind === "Secret" ? ["data"] : obj.kind === "ConfigMap" ? ["binaryData"] : []) {
    const map = obj[field];
    if (map === null || typeof map !== "object" || Array.isArray(map)) continue;
    for (const key of Object.keys(map)) {
      if (typeof map[key] === "string") map[key] = map[key].replace(/[\r\n]/g, "");
    }
  }
}

function validateObject(obj) {
  const errors = [];
  unwrapBase64(obj);
  const { cls, error } = modelFor(obj.apiVersion, obj.kind);
  if (error) return [{ path: "/kind", message: error }];
  const reads = new Map();
  try {
    cls.prototype.validate.call(tracked(obj, "", reads));
  } catch (e) {
    const list = Array.isArray(e.errors) ? e.errors : null;
    if (!list) return [{ path: "", message: String(e && e.message ? e.message : e) }];
    // anyOf/oneOf report each branch: keep the most specific messages.
    const seen = new Set();
    for (const err of list) {
      const key = err.instancePath + " " + ajvMessage(err);
      if (seen.has(key)) continue;
      seen.add(key);
      errors.push({ path: err.instancePath || "/", message: ajvMessage(err) });
    }
  }
  const unknown = [];
  unreadFields(obj, "", reads, unknown);
  for (const p of unknown) {
    errors.push({ path: p, message: "unknown field (not in the schema of " +
                                    `${obj.apiVersion} ${obj.kind})` });
  }
  return errors;
}

// Every .d.ts interface of the packages -> its declared properties and the
// validator of its schema; reports declared properties the validator never
// reads (strict mode would call them unknown) other than the exempt ones, and
// checks that misspelt fields are caught at several depths.
function selfTest() {
  const problems = [];
  let types = 0;
  const walk = (dir, out) => {
    for (const f of fs.readdirSync(dir)) {
      const p = path.join(dir, f);
      if (fs.statSync(p).isDirectory()) {
        if (f !== "node_modules" && f !== "_schemas") walk(p, out);
      } else if (f.endsWith(".d.ts")) {
        out.push(p);
      }
    }
    return out;
  };
  const APIMACHINERY = path.dirname(require.resolve("@kubernetes-models/apimachinery/package.json"));
  for (const root of [KUBERNETES_MODELS, PROMETHEUS_OPERATOR, APIMACHINERY]) {
    for (const file of walk(root, [])) {
      const src = fs.readFileSync(file, "utf8");
      const m = src.match(/^export interface (I\w+)([^{]*)\{\n([\s\S]*?)\n\}/m);
      if (!m) continue;
      const alias = src.match(new RegExp("export \\{ " + m[1] + " as (I\\w+)"));
      if (!alias) continue;
      const schema = path.join(root, "_schemas", alias[1].slice(1) + ".js");
      if (!fs.existsSync(schema)) continue;
      const props = [...m[3].matchAll(/^    "([^"]+)"\??:/gm)].map((x) => x[1]);
      if (/extends TypeMeta/.test(m[2])) props.push("apiVersion", "kind");
      const obj = {};
      for (const p of props) obj[p] = null;
      const reads = new Map();
      require(schema).validate(tracked(obj, "", reads));
      const read = reads.get("") || new Set();
      for (const p of props) {
        if (!read.has(p) && !exempt(p)) {
          problems.push(`${alias[1].slice(1)}: the validator never reads the declared field ` +
                        `"${p}" (strict mode would call it unknown)`);
        }
      }
      types++;
    }
  }
  const deployment = {
    apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x", labelz: {} },
    spec: { selector: { matchLabels: { a: "b" } }, template: {
      metadata: { labels: { a: "b" } },
      spec: { containers: [{ name: "c", readinesProbe: {}, ports: [{ containerPort: 1, protocl: "TCP" }],
                             resources: { limits: { "nvidia.com/gpu": 1 } } }] } } },
  };
  const want = ["/metadata/labelz", "/spec/template/spec/containers/0/readinesProbe",
                "/spec/template/spec/containers/0/ports/0/protocl"];
  const got = validateObject(deployment).map((e) => e.path);
  for (const w of want) {
    if (!got.includes(w)) problems.push(`a misspelt field at ${w} was not reported`);
  }
  for (const g of got) {
    if (!want.includes(g)) problems.push(`${g} was reported, though declared`);
  }
  if (types < 500) problems.push(`only ${types} types found in the packages' .d.ts files`);
  for (const p of problems) console.log(`self-test: ${p}`);
  console.log(`self-test: ${types} types, ${problems.length} problems`);
  process.exit(problems.length ? 1 : 0);
}

function main() {
  if (process.argv[2] === "--self-test") return selfTest();
  const file = process.argv[2];
  const text = file ? fs.readFileSync(file, "utf8") : fs.readFileSync(0, "utf8");
  let docs;
  try {
    docs = yaml.loadAll(text);
  } catch (e) {
    console.log(`YAML: ${e.message}`);
    process.exit(1);
  }
  let objects = 0, failures = 0;
  docs.forEach((obj, index) => {
    if (obj === null || obj === undefined) return;
    objects++;
    const meta = (obj && typeof obj.metadata === "object" && obj.metadata) || {};
    const who = `${obj.kind || "?"} ${meta.namespace ? meta.namespace + "/" : ""}` +
                `${meta.name || "(document " + (index + 1) + ")"}`;
    if (typeof obj !== "object" || Array.isArray(obj)) {
      console.log(`${who}: not an object`);
      failures++;
      return;
    }
    for (const e of validateObject(obj)) {
      console.log(`${who}: ${e.path}: ${e.message}`);
      failures++;
    }
  });
  console.log(`validate: ${objects} objects, ${failures} errors`);
  process.exit(failures ? 1 : 0);
}

main();
