#!/usr/bin/env node
// Checks a CloudFormation template (as JSON: tests/integration/cfn_yaml.py)
// against the current resource specification that AWS CDK ships as data
// (@aws-cdk/aws-service-spec): every resource type and property known, every
// required property present, values of the right shape (both branches of each
// Fn::If), every Ref / Fn::GetAtt / Fn::Sub / condition naming something the
// template or CloudFormation defines. Prints one line per problem, exits 1.
//   node cfn_check.js TEMPLATE.json
'use strict';
const fs = require('fs');
const { loadAwsServiceSpecSync } = require('@aws-cdk/aws-service-spec');

const tpl = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const db = loadAwsServiceSpecSync();
const problems = [];
const bad = (where, msg) => problems.push(`${where}: ${msg}`);

const TOP = new Set(['AWSTemplateFormatVersion', 'Description', 'Metadata', 'Parameters', 'Mappings', 'Conditions',
  'Transform', 'Resources', 'Outputs', 'Rules']);
const RESOURCE_KEYS = new Set(['Type', 'Properties', 'Condition', 'DependsOn', 'DeletionPolicy', 'UpdateReplacePolicy',
  'Metadata', 'CreationPolicy', 'UpdatePolicy']);
const PARAM_KEYS = new Set(['Type', 'Default', 'Description', 'AllowedValues', 'AllowedPattern', 'MinValue', 'MaxValue',
  'MinLength', 'MaxLength', 'NoEcho', 'ConstraintDescription']);
const PSEUDO = new Set(['AWS::AccountId', 'AWS::NotificationARNs', 'AWS::NoValue', 'AWS::Partition', 'AWS::Region',
  'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix']);
const PARAM_TYPE = /^(String|Number|List<Number>|CommaDelimitedList|AWS::SSM::Parameter::(Name|Value<.+>)|(List<)?AWS::EC2::(AvailabilityZone::Name|Image::Id|Instance::Id|KeyPair::KeyName|SecurityGroup::GroupName|SecurityGroup::Id|Subnet::Id|Volume::Id|VPC::Id)>?|(List<)?AWS::Route53::HostedZone::Id>?)$/;

for (const k of Object.keys(tpl)) if (!TOP.has(k)) bad('template', `unknown section ${k}`);
const params = tpl.Parameters || {}, resources = tpl.Resources || {}, conditions = tpl.Conditions || {};
if (!Object.keys(resources).length) bad('template', 'no Resources');
for (const [n, p] of Object.entries(params)) {
  if (!PARAM_TYPE.test(p.Type || '')) bad(`Parameters.${n}`, `unknown type ${p.Type}`);
  for (const k of Object.keys(p)) if (!PARAM_KEYS.has(k)) bad(`Parameters.${n}`, `unknown key ${k}`);
  if (p.AllowedValues && 'Default' in p && !p.AllowedValues.map(String).includes(String(p.Default)))
    bad(`Parameters.${n}`, `Default ${p.Default} is not among AllowedValues`);
}

const specOf = new Map();
function spec(type) {
  if (!specOf.has(type)) {
    const found = db.lookup('resource', 'cloudFormationType', 'equals', type);
    specOf.set(type, found.length === 1 ? found[0] : null);
  }
  return specOf.get(type);
}

// References inside intrinsic functions.
function checkRef(where, name) {
  if (!(name in params) && !(name in resources) && !PSEUDO.has(name)) bad(where, `Ref to unknown ${name}`);
}
function checkGetAtt(where, v) {
  const [res, attr] = Array.isArray(v) ? v : String(v).split('.', 2);
  if (!(res in resources)) return bad(where, `Fn::GetAtt of unknown resource ${res}`);
  const s = spec(resources[res].Type);
  if (s && typeof attr === 'string' && !(attr in (s.attributes || {})))
    bad(where, `${resources[res].Type} has no attribute ${attr} (has ${Object.keys(s.attributes || {}).join(', ')})`);
}
function checkSub(where, v) {
  const [text, vars] = Array.isArray(v) ? v : [v, {}];
  for (const [, name] of String(text).matchAll(/\$\{([^}!]+)\}/g)) {
    if (name in (vars || {})) continue;
    if (name.includes('.')) checkGetAtt(where, name.split('.', 2)); else checkRef(where, name);
  }
  for (const [k, val] of Object.entries(vars || {})) walkIntrinsics(`${where}.${k}`, val);
}
function checkCondition(where, name) { if (!(name in conditions)) bad(where, `unknown condition ${name}`); }

// Walks any value for intrinsics (no type known: e.g. inside IAM policy JSON).
function walkIntrinsics(where, v) {
  if (Array.isArray(v)) return v.forEach((x, i) => walkIntrinsics(`${where}[${i}]`, x));
  if (!v || typeof v !== 'object') return;
  const keys = Object.keys(v);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::') || keys[0] === 'Condition')) {
    const [k] = keys, a = v[k];
    if (k === 'Ref') checkRef(where, a);
    else if (k === 'Fn::GetAtt') checkGetAtt(where, a);
    else if (k === 'Fn::Sub') checkSub(where, a);
    else if (k === 'Condition') checkCondition(where, a);
    else if (k === 'Fn::If') { checkCondition(where, a[0]); walkIntrinsics(where, a.slice(1)); }
    else walkIntrinsics(where, a);
    return;
  }
  for (const [k, x] of Object.entries(v)) walkIntrinsics(`${where}.${k}`, x);
}

const isIntrinsic = (v) => v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 &&
  (Object.keys(v)[0] === 'Ref' || Object.keys(v)[0].startsWith('Fn::'));

// A value against a spec type; returns true when it fits (problems recorded only when report).
function fits(where, v, t, report) {
  if (isIntrinsic(v)) {
    if ('Fn::If' in v) {
      const [cond, a, b] = v['Fn::If'];
      if (report) checkCondition(where, cond);
      const branch = (x) => (x && x.Ref === 'AWS::NoValue') || fits(where, x, t, report);
      return branch(a) && branch(b);
    }
    if (report) walkIntrinsics(where, v);
    return true; // Ref, Sub, GetAtt, Join...: a value of any shape CloudFormation resolves
  }
  const no = (msg) => { if (report) bad(where, msg); return false; };
  switch (t.type) {
    case 'string': case 'date-time':
      return ['string', 'number', 'boolean'].includes(typeof v) || no(`expected a string, got ${JSON.stringify(v)}`);
    case 'integer': case 'number':
      return typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) ||
        no(`expected a number, got ${JSON.stringify(v)}`);
    case 'boolean':
      return typeof v === 'boolean' || v === 'true' || v === 'false' || no(`expected a boolean, got ${JSON.stringify(v)}`);
    case 'json':
      return (v && typeof v === 'object') || typeof v === 'string' || no('expected JSON');
    case 'array':
      if (!Array.isArray(v)) return no(`expected a list, got ${JSON.stringify(v)}`);
      return v.map((x, i) => fits(`${where}[${i}]`, x, t.element, report)).every(Boolean);
    case 'map':
      if (!v || typeof v !== 'object' || Array.isArray(v)) return no('expected a map');
      return Object.entries(v).map(([k, x]) => fits(`${where}.${k}`, x, t.element, report)).every(Boolean);
    case 'tag':
      return fitsProps(where, v, { Key: { type: { type: 'string' }, required: true },
        Value: { type: { type: 'string' }, required: true } }, report);
    case 'ref':
      return fitsProps(where, v, db.get('typeDefinition', t.reference.$ref).properties || {}, report);
    case 'union': {
      if (t.types.some((u) => fits(where, v, u, false))) return true;
      return no(`fits none of ${t.types.map((u) => u.type).join(', ')}: ${JSON.stringify(v).slice(0, 120)}`);
    }
    default:
      return no(`the specification has a type ${t.type} this checker does not know`);
  }
}

function fitsProps(where, v, props, report) {
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    if (report) bad(where, `expected an object, got ${JSON.stringify(v)}`);
    return false;
  }
  let ok = true;
  for (const [k, x] of Object.entries(v)) {
    if (!(k in props)) {
      ok = false;
      if (report) bad(`${where}.${k}`, `unknown property (known: ${Object.keys(props).join(', ')})`);
    } else if (!fits(`${where}.${k}`, x, props[k].type, report)) ok = false;
  }
  for (const [k, p] of Object.entries(props)) {
    if (p.required && !(k in v)) { ok = false; if (report) bad(`${where}`, `required property ${k} missing`); }
  }
  return ok;
}

for (const [n, r] of Object.entries(resources)) {
  const where = `Resources.${n}`;
  for (const k of Object.keys(r)) if (!RESOURCE_KEYS.has(k)) bad(where, `unknown key ${k}`);
  if (r.Condition) checkCondition(where, r.Condition);
  for (const d of [].concat(r.DependsOn || [])) if (!(d in resources)) bad(where, `DependsOn unknown ${d}`);
  const s = spec(r.Type);
  if (!s) { bad(where, `unknown resource type ${r.Type}`); continue; }
  fitsProps(`${where}.Properties`, r.Properties || {}, s.properties || {}, true);
}
for (const [n, c] of Object.entries(conditions)) walkIntrinsics(`Conditions.${n}`, c);
for (const [n, o] of Object.entries(tpl.Outputs || {})) {
  if (!('Value' in o)) bad(`Outputs.${n}`, 'no Value');
  walkIntrinsics(`Outputs.${n}`, o);
}
if (problems.length) {
  console.log(problems.join('\n'));
  process.exit(1);
}
const types = [...new Set(Object.values(resources).map((r) => r.Type))];
console.log(`cfn-check: ${Object.keys(resources).length} resources of ${types.length} types, ${Object.keys(params).length} parameters: valid against the current specification`);
