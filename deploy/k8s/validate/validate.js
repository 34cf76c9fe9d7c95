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

// Fields of `data` the validator never read: "/spec/template/.../readinesProbe".
function unreadFields(data, pointer, reads, out) {
  if (data === null || typeof data !== "object") return;
  if (Array.isArray(data)) {
    data.forEach((v, i) => unreadFields(v, pointer + "/" + i, reads, out));
    return;
  }
  const read = reads.get(pointer);
  for (const key of Object.keys(data)) {
    const child = pointer + "/" + escapePointer(key);
    if (!read || !read.has(key)) {
      // Its parent was never looked into (e.g. a type error above it): the
      // schema error already says so.
      if (read) out.push(child);
      continue;
    }
    unreadFields(data[key], child, reads, out);
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

function main() {
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
