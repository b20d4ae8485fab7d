// Validates every Kubernetes object in a multi-document YAML file (`helm
// template` output) offline:
//   node validate_objects.js <node_modules dir> <file.yaml>
// Built-in kinds against the Kubernetes OpenAPI schemas of the npm package
// kubernetes-models 4.x (scripts/setup installs it in .tools/node_modules).
// Those validators ignore unknown fields, so each object is also walked
// through a Proxy that records which fields the validator looked up: a field
// it never asked for is not in the schema. ServiceMonitor and PrometheusRule
// (monitoring.coreos.com/v1 CRDs, not in kubernetes-models) get their
// metadata checked the same way and their spec against a minimal allow-list.
// Prints one line per object; exits 1 if any is invalid.
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const [modulesDir, file] = process.argv.slice(2);
if (!modulesDir || !file) {
  console.error("usage: node validate_objects.js <node_modules dir> <file.yaml>");
  process.exit(2);
}
const requireTool = createRequire(path.join(path.resolve(modulesDir), "noop.js"));
const YAML = requireTool("yaml");

// The compiled schema validator of a kubernetes-models kind: the model module
// requires it from its _schemas directory.
function schemaValidator(apiVersion, kind) {
  const modelPath = requireTool.resolve(`kubernetes-models/${apiVersion}/${kind}`);
  const source = fs.readFileSync(modelPath, "utf8");
  const m = source.match(new RegExp(`require\\("([^"]*_schemas/[A-Za-z0-9]*${kind}\\.js)"\\)`));
  if (!m) throw new Error(`no schema for ${apiVersion} ${kind} in ${modelPath}`);
  return require(path.resolve(path.dirname(modelPath), m[1])).validate;
}

function objectMetaValidator() {
  return requireTool("@kubernetes-models/apimachinery/_schemas/IoK8sApimachineryPkgApisMetaV1ObjectMeta").validate;
}

// Runs `validate` on `data` through proxies and returns the schema errors
// plus the paths of fields the schema does not know.
function validateStrict(validate, data) {
  const looked = new Map();  // path -> Set of keys looked up, or "*" when enumerated
  const note = (p, key) => {
    if (!looked.has(p)) looked.set(p, new Set());
    looked.get(p).add(key);
  };
  const wrap = (value, p) => {
    if (value === null || typeof value !== "object") return value;
    return new Proxy(value, {
      get(target, key) {
        if (typeof key === "string") note(p, key);
        const v = target[key];
        return typeof key === "string" ? wrap(v, `${p}/${key}`) : v;
      },
      has(target, key) {
        if (typeof key === "string") note(p, key);
        return key in target;
      },
      ownKeys(target) {
        note(p, "*");
        return Reflect.ownKeys(target);
      },
    });
  };
  const errors = [];
  if (!validate(wrap(data, ""))) {
    for (const e of validate.errors || []) errors.push(`${e.instancePath || "/"} ${e.keyword} ${JSON.stringify(e.params)}`);
  }
  const walk = (value, p) => {
    if (value === null || typeof value !== "object") return;
    const keys = looked.get(p) || new Set();
    for (const [key, child] of Object.entries(value)) {
      if (!Array.isArray(value) && !keys.has("*") && !keys.has(key)) errors.push(`${p}/${key}: unknown field`);
      walk(child, `${p}/${key}`);
    }
  };
  walk(data, "");
  return errors;
}

// kubernetes-models' JSONSchemaProps leaves out description and the
// x-kubernetes-* extensions and stops recursing, so a CRD's
// openAPIV3Schema is checked against the field list of apiextensions.k8s.io/v1
// JSONSchemaProps and ValidationRule instead, at every depth.
const jsonSchemaPropsFields = [
  "$ref", "$schema", "additionalItems", "additionalProperties", "allOf", "anyOf", "default",
  "definitions", "dependencies", "description", "enum", "example", "exclusiveMaximum",
  "exclusiveMinimum", "externalDocs", "format", "id", "items", "maxItems", "maxLength",
  "maxProperties", "maximum", "minItems", "minLength", "minProperties", "minimum", "multipleOf",
  "not", "nullable", "oneOf", "pattern", "patternProperties", "properties", "required", "title",
  "type", "uniqueItems", "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string",
  "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type",
  "x-kubernetes-preserve-unknown-fields", "x-kubernetes-validations"];
const validationRuleFields = ["rule", "message", "messageExpression", "reason", "fieldPath", "optionalOldSelf"];
function checkJsonSchemaProps(node, where, errors) {
  if (!checkKeys(node, jsonSchemaPropsFields, where, errors)) return;
  for (const map of ["properties", "patternProperties", "definitions"]) {
    for (const [k, child] of Object.entries(node[map] || {})) checkJsonSchemaProps(child, `${where}/${map}/${k}`, errors);
  }
  for (const one of ["not", "additionalItems", "additionalProperties"]) {
    if (node[one] !== undefined && typeof node[one] !== "boolean") checkJsonSchemaProps(node[one], `${where}/${one}`, errors);
  }
  if (Array.isArray(node.items)) node.items.forEach((c, i) => checkJsonSchemaProps(c, `${where}/items/${i}`, errors));
  else if (node.items !== undefined) checkJsonSchemaProps(node.items, `${where}/items`, errors);
  for (const list of ["allOf", "anyOf", "oneOf"]) (node[list] || []).forEach((c, i) => checkJsonSchemaProps(c, `${where}/${list}/${i}`, errors));
  (node["x-kubernetes-validations"] || []).forEach((r, i) => {
    const at = `${where}/x-kubernetes-validations/${i}`;
    if (checkKeys(r, validationRuleFields, at, errors) && typeof r.rule !== "string") errors.push(`${at}/rule: required`);
  });
}
function checkCrdSchemas(crd, errors) {
  ((crd.spec && crd.spec.versions) || []).forEach((v, i) => {
    if (v.schema && v.schema.openAPIV3Schema) checkJsonSchemaProps(v.schema.openAPIV3Schema, `/spec/versions/${i}/schema/openAPIV3Schema`, errors);
  });
}

// Minimal structure of the monitoring.coreos.com/v1 kinds we render.
const duration = /^(([0-9]+)(ms|s|m|h|d|w|y))+$/;
function checkKeys(obj, allowed, where, errors) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    errors.push(`${where}: not an object`);
    return false;
  }
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) errors.push(`${where}/${key}: unknown field`);
  return true;
}
function checkStringMap(obj, where, errors) {
  if (obj === undefined) return;
  if (!checkKeys(obj, Object.keys(obj), where, errors)) return;
  for (const [k, v] of Object.entries(obj)) if (typeof v !== "string") errors.push(`${where}/${k}: not a string`);
}
const crdSpecCheckers = {
  ServiceMonitor(spec, errors) {
    if (!checkKeys(spec, ["selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels", "podTargetLabels"], "/spec", errors)) return;
    if (!spec.selector) errors.push("/spec/selector: required");
    else if (checkKeys(spec.selector, ["matchLabels", "matchExpressions"], "/spec/selector", errors)) checkStringMap(spec.selector.matchLabels, "/spec/selector/matchLabels", errors);
    if (spec.namespaceSelector !== undefined && checkKeys(spec.namespaceSelector, ["any", "matchNames"], "/spec/namespaceSelector", errors)) {
      const names = spec.namespaceSelector.matchNames;
      if (names !== undefined && !(Array.isArray(names) && names.every((n) => typeof n === "string"))) errors.push("/spec/namespaceSelector/matchNames: not a list of strings");
    }
    if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) {
      errors.push("/spec/endpoints: required, a non-empty list");
      return;
    }
    spec.endpoints.forEach((e, i) => {
      const where = `/spec/endpoints/${i}`;
      if (!checkKeys(e, ["port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "honorLabels", "honorTimestamps", "relabelings", "metricRelabelings", "params", "tlsConfig"], where, errors)) return;
      if (typeof e.port !== "string") errors.push(`${where}/port: must name a Service port`);
      if (e.path !== undefined && !/^\//.test(e.path)) errors.push(`${where}/path: not an absolute path`);
      for (const d of ["interval", "scrapeTimeout"]) if (e[d] !== undefined && !duration.test(e[d])) errors.push(`${where}/${d}: not a duration`);
      if (e.honorLabels !== undefined && typeof e.honorLabels !== "boolean") errors.push(`${where}/honorLabels: not a boolean`);
    });
  },
  PrometheusRule(spec, errors) {
    if (!checkKeys(spec, ["groups"], "/spec", errors)) return;
    if (!Array.isArray(spec.groups) || spec.groups.length === 0) {
      errors.push("/spec/groups: required, a non-empty list");
      return;
    }
    spec.groups.forEach((g, i) => {
      const where = `/spec/groups/${i}`;
      if (!checkKeys(g, ["name", "interval", "rules", "limit", "partial_response_strategy"], where, errors)) return;
      if (typeof g.name !== "string" || g.name === "") errors.push(`${where}/name: required`);
      if (!Array.isArray(g.rules)) {
        errors.push(`${where}/rules: required, a list`);
        return;
      }
      g.rules.forEach((r, j) => {
        const at = `${where}/rules/${j}`;
        if (!checkKeys(r, ["alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"], at, errors)) return;
        if ((r.alert === undefined) === (r.record === undefined)) errors.push(`${at}: exactly one of alert and record`);
        if (typeof r.expr !== "string" || r.expr.trim() === "") errors.push(`${at}/expr: required, a string`);
        if (r.for !== undefined && !duration.test(r.for)) errors.push(`${at}/for: not a duration`);
        checkStringMap(r.labels, `${at}/labels`, errors);
        checkStringMap(r.annotations, `${at}/annotations`, errors);
      });
    });
  },
};

let failed = false;
const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
let count = 0;
for (const doc of docs) {
  if (doc.errors.length) {
    console.log(`INVALID YAML: ${doc.errors.map(String).join("; ")}`);
    failed = true;
    continue;
  }
  const obj = doc.toJS();
  if (obj === null) continue;
  ++count;
  const id = `${obj.apiVersion} ${obj.kind} ${obj.metadata && obj.metadata.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata && obj.metadata.name}`;
  let errors = [];
  try {
    if (obj.apiVersion === "monitoring.coreos.com/v1" && crdSpecCheckers[obj.kind]) {
      checkKeys(obj, ["apiVersion", "kind", "metadata", "spec"], "", errors);
      errors = errors.concat(validateStrict(objectMetaValidator(), obj.metadata || {}).map((e) => `/metadata${e}`));
      if (!obj.metadata || !obj.metadata.name) errors.push("/metadata/name: required");
      crdSpecCheckers[obj.kind](obj.spec, errors);
    } else {
      errors = validateStrict(schemaValidator(obj.apiVersion, obj.kind), obj);
      if (obj.kind === "CustomResourceDefinition") {
        errors = errors.filter((e) => !/^\/spec\/versions\/[0-9]+\/schema\/openAPIV3Schema\//.test(e));
        checkCrdSchemas(obj, errors);
      }
    }
  } catch (e) {
    errors.push(String(e.message || e));
  }
  if (errors.length) {
    failed = true;
    console.log(`INVALID ${id}`);
    for (const e of errors) console.log(`  ${e}`);
  } else {
    console.log(`ok ${id}`);
  }
}
if (count === 0) {
  console.log("no objects");
  failed = true;
}
process.exit(failed ? 1 : 0);
