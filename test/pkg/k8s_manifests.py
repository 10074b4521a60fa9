#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Checks pkg/k8s/*.yaml against what gend needs and what its unit grants.

usage: k8s_manifests.py SRC_DIR [--write DIR]

Structure: the kinds and their required fields; the DaemonSet runs in the host
network with exactly the capabilities of systemd/gen.service's
CapabilityBoundingSet=, no privilege escalation, a read-only root with writable
volumes where the unit gives directories, the host's /sys/fs/bpf, and the
ConfigMap mounted at the directory of the config that gen-entrypoint and the
Containerfile name. Schema: when Debian's python3-kubernetes is installed,
every field is checked against its API models (names, types, required
fields); fields newer than those models are listed as not checked.
--write DIR lays the ConfigMap's files out in DIR as the kubelet does
(DIR/..v1/KEY, DIR/..data -> ..v1, DIR/KEY -> ..data/KEY).
"""
import os
import re
import sys

import yaml

errors = []


def err(where, msg):
	errors.append(f"{where}: {msg}")


def get(d, path, where):
	"""d[a][b]... for path 'a.b...', or None with an error naming the missing field."""
	cur = d
	for k in path.split('.'):
		if not isinstance(cur, dict) or k not in cur:
			err(where, f"missing {path}")
			return None
		cur = cur[k]
	return cur


def unit_caps(path):
	"""The capability sets of the unit: {key: set of names without CAP_}."""
	caps = {}
	with open(path) as f:
		for n, line in enumerate(f, 1):
			m = re.match(r'^(CapabilityBoundingSet|AmbientCapabilities)=(.*)$', line.strip())
			if m:
				caps[m.group(1)] = {c.removeprefix('CAP_') for c in m.group(2).split()}
	if 'CapabilityBoundingSet' not in caps:
		err(path, "no CapabilityBoundingSet= line")
	return caps


def shell_default(path, var):
	"""The default in `${VAR:-DEFAULT}` of a shell script."""
	with open(path) as f:
		m = re.search(r'\$\{' + var + r':-([^}]+)\}', f.read())
	if not m:
		err(path, f"no ${{{var}:-...}} default")
		return None
	return m.group(1)


def containerfile_env(path, var):
	with open(path) as f:
		text = f.read().replace('\\\n', ' ')
	for line in text.splitlines():
		if line.startswith('ENV '):
			m = re.search(r'\b' + var + r'=(\S+)', line)
			if m:
				return m.group(1)
	err(path, f"no ENV {var}=")
	return None


# ---- schema: the kubernetes python client's models ----
# Fields added to the API after the installed client's models (python3-kubernetes
# in Debian 12 is 22.6, the 1.22 API): accepted but not checked here.
NEWER = {('V1SecurityContext', 'appArmorProfile')}
unchecked = set()


def schema_check(obj, typ, where, models):
	m = re.fullmatch(r'list\[(.*)\]', typ)
	if m:
		if not isinstance(obj, list):
			return err(where, f"must be a list ({typ})")
		for i, v in enumerate(obj):
			schema_check(v, m.group(1), f"{where}[{i}]", models)
		return
	m = re.fullmatch(r'dict\(str, (.*)\)', typ)
	if m:
		if not isinstance(obj, dict):
			return err(where, f"must be a map ({typ})")
		for k, v in obj.items():
			schema_check(v, m.group(1), f"{where}.{k}", models)
		return
	prim = {'str': str, 'int': int, 'bool': bool, 'float': (int, float), 'datetime': str, 'date': str}
	if typ in prim:
		# bool is an int in Python; an int field must not take true/false.
		if not isinstance(obj, prim[typ]) or (typ == 'int' and isinstance(obj, bool)):
			err(where, f"must be {typ}, not {type(obj).__name__} {obj!r}")
		return
	if typ == 'object':
		return
	cls = getattr(models, typ, None)
	if cls is None:
		return err(where, f"unknown model {typ}")
	if not isinstance(obj, dict):
		return err(where, f"must be an object ({typ})")
	by_json = {j: a for a, j in cls.attribute_map.items()}
	for k, v in obj.items():
		if k not in by_json:
			if (typ, k) in NEWER:
				unchecked.add(f"{typ}.{k}")
				continue
			err(where, f"unknown field '{k}' in {typ}")
			continue
		schema_check(v, cls.openapi_types[by_json[k]], f"{where}.{k}", models)


def schema(docs):
	"""Returns a line saying what was validated, or None when the client is missing."""
	try:
		import kubernetes
		from kubernetes.client import ApiClient, models
	except ImportError:
		return None
	api = ApiClient()

	class Resp:
		def __init__(self, d):
			import json
			self.data = json.dumps(d)

	for where, d in docs:
		typ = f"{d.get('apiVersion', '').split('/')[-1].capitalize()}{d.get('kind', '')}"
		if not hasattr(models, typ):
			err(where, f"no schema for {d.get('apiVersion')} {d.get('kind')}")
			continue
		schema_check(d, typ, where, models)
		try:
			# The models' setters refuse a missing required field or a bad enum value.
			api.deserialize(Resp(d), typ)
		except ValueError as e:
			err(where, f"schema: {e}")
	return f"kubernetes python client {kubernetes.__version__} models"


def kubelet_layout(data, out):
	os.makedirs(os.path.join(out, '..v1'))
	for k, v in data.items():
		with open(os.path.join(out, '..v1', k), 'w') as f:
			f.write(v)
		os.chmod(os.path.join(out, '..v1', k), 0o400)
		os.symlink(os.path.join('..data', k), os.path.join(out, k))
	os.symlink('..v1', os.path.join(out, '..data'))


def main():
	if len(sys.argv) not in (2, 4) or (len(sys.argv) == 4 and sys.argv[2] != '--write'):
		sys.exit(__doc__)
	src = sys.argv[1]
	k8s = os.path.join(src, 'pkg/k8s')
	docs = []
	for name in ('daemonset.yaml', 'configmap.yaml'):
		with open(os.path.join(k8s, name)) as f:
			for i, d in enumerate(yaml.safe_load_all(f)):
				if d is not None:
					docs.append((f"{name}[{i}] {d.get('kind')}", d))
	by_kind = {}
	for where, d in docs:
		for field in ('apiVersion', 'kind', 'metadata.name'):
			get(d, field, where)
		by_kind.setdefault(d.get('kind'), []).append((where, d))
	want = {'Namespace': 'v1', 'DaemonSet': 'apps/v1', 'ConfigMap': 'v1'}
	for kind, api in want.items():
		if len(by_kind.get(kind, [])) != 1:
			err('pkg/k8s', f"expected one {kind}, found {len(by_kind.get(kind, []))}")
		elif by_kind[kind][0][1].get('apiVersion') != api:
			err(by_kind[kind][0][0], f"apiVersion must be {api}")
	if errors:
		return finish(None)
	(dsw, ds), (cmw, cm) = by_kind['DaemonSet'][0], by_kind['ConfigMap'][0]
	ns = by_kind['Namespace'][0][1]['metadata']['name']
	for where, d in (by_kind['DaemonSet'][0], by_kind['ConfigMap'][0]):
		if d['metadata'].get('namespace') != ns:
			err(where, f"namespace must be '{ns}' (the Namespace in daemonset.yaml)")

	# The DaemonSet's pod.
	sel = get(ds, 'spec.selector.matchLabels', dsw) or {}
	labels = get(ds, 'spec.template.metadata.labels', dsw) or {}
	if not sel or any(labels.get(k) != v for k, v in sel.items()):
		err(dsw, f"spec.selector.matchLabels {sel} must be non-empty and match the template's labels {labels}")
	pod = get(ds, 'spec.template.spec', dsw) or {}
	if pod.get('hostNetwork') is not True:
		err(dsw, "hostNetwork must be true: XDP attaches to the node's interfaces")
	if pod.get('hostNetwork') and pod.get('dnsPolicy') != 'ClusterFirstWithHostNet':
		err(dsw, "with hostNetwork, dnsPolicy should be ClusterFirstWithHostNet")
	ctrs = [c for c in pod.get('containers', []) if c.get('name') == 'gend']
	if len(ctrs) != 1:
		err(dsw, "expected one container named gend")
		return finish(None)
	c = ctrs[0]
	cw = f"{dsw} container gend"
	get(c, 'image', cw)
	sc = c.get('securityContext', {})

	caps = unit_caps(os.path.join(src, 'systemd/gen.service'))
	bound = caps.get('CapabilityBoundingSet', set())
	if caps.get('AmbientCapabilities', bound) != bound:
		err('systemd/gen.service', "AmbientCapabilities= differs from CapabilityBoundingSet=")
	add = set(sc.get('capabilities', {}).get('add', []))
	drop = set(sc.get('capabilities', {}).get('drop', []))
	if add != bound:
		err(cw, f"capabilities.add {sorted(add)} must be the unit's {sorted(bound)} "
		    f"(missing {sorted(bound - add)}, extra {sorted(add - bound)})")
	if 'ALL' not in drop:
		err(cw, "capabilities.drop must hold ALL (the unit's bounding set is exactly its list)")
	if sc.get('privileged', False):
		err(cw, "privileged must be false: the unit runs with its capabilities only")
	if sc.get('allowPrivilegeEscalation') is not False:
		err(cw, "allowPrivilegeEscalation must be false (the unit's NoNewPrivileges=yes)")
	if sc.get('readOnlyRootFilesystem') is not True:
		err(cw, "readOnlyRootFilesystem must be true (the unit's ProtectSystem=strict)")

	vols = {v.get('name'): v for v in pod.get('volumes', [])}
	mounts = {m.get('mountPath'): m for m in c.get('volumeMounts', [])}
	for m in mounts.values():
		if m.get('name') not in vols:
			err(cw, f"volumeMount {m.get('mountPath')} names no volume '{m.get('name')}'")
	bpf = mounts.get('/sys/fs/bpf')
	if not bpf or vols.get(bpf.get('name'), {}).get('hostPath', {}).get('path') != '/sys/fs/bpf':
		err(cw, "/sys/fs/bpf must be mounted from the host's /sys/fs/bpf (hostPath): maps are pinned there")
	elif bpf.get('readOnly'):
		err(cw, "/sys/fs/bpf must be writable: pinning creates files (the unit's ReadWritePaths=/sys/fs/bpf)")
	# Writable where the unit gives directories; /run/gen also where the config's control socket is.
	control = '/run/gen/gen.sock'
	m = re.search(r'^\s*control\s*=\s*(\S+)', cm.get('data', {}).get('chains.ini', ''), re.M)
	if m:
		control = m.group(1)
	for d in ('/run/gen', '/var/lib/gen', '/var/cache', os.path.dirname(control)):
		if d not in mounts or mounts[d].get('readOnly'):
			err(cw, f"{d} must be a writable volume (the root file system is read-only)")

	# The config: the same path everywhere, mounted from the ConfigMap.
	env = {e.get('name'): e.get('value') for e in c.get('env', [])}
	entry = shell_default(os.path.join(src, 'pkg/container/gen-entrypoint'), 'GEN_CONFIG')
	image = containerfile_env(os.path.join(src, 'pkg/container/Containerfile'), 'GEN_CONFIG')
	cfg = env.get('GEN_CONFIG', image)
	if not (entry == image == cfg):
		err(cw, f"GEN_CONFIG differs: gen-entrypoint {entry}, Containerfile {image}, DaemonSet {cfg}")
	cfgdir = os.path.dirname(cfg or '')
	cmount = mounts.get(cfgdir)
	if not cmount:
		err(cw, f"nothing mounted at {cfgdir}, the directory of GEN_CONFIG {cfg}")
	else:
		if 'subPath' in cmount:
			err(cw, f"{cfgdir} must not be a subPath mount: those never see ConfigMap updates")
		v = vols.get(cmount.get('name'), {})
		srcs = v.get('projected', {}).get('sources', []) if 'projected' in v else [v]
		names = [s['configMap'].get('name') for s in srcs if 'configMap' in s]
		if cm['metadata']['name'] not in names:
			err(cw, f"the volume at {cfgdir} does not hold ConfigMap '{cm['metadata']['name']}' (has {names})")
	data = cm.get('data')
	if not isinstance(data, dict) or not all(isinstance(x, str) for x in data.values()):
		err(cmw, "data must map file names to strings")
	elif os.path.basename(cfg or '') not in data:
		err(cmw, f"data has no key {os.path.basename(cfg or '')} (GEN_CONFIG is {cfg})")

	what = schema(docs)
	if not errors and len(sys.argv) == 4:
		kubelet_layout(data, sys.argv[3])
	return finish(what)


def finish(what):
	for e in errors:
		print(f"FAIL: {e}")
	if errors:
		return 1
	print("ok - pkg/k8s: Namespace, DaemonSet, ConfigMap: required fields; hostNetwork; the unit's capabilities; "
	      "bpffs from the host; config mount = GEN_CONFIG of the entrypoint and the image")
	if what:
		extra = f"; not in its models, so not checked: {', '.join(sorted(unchecked))}" if unchecked else ""
		print(f"ok - pkg/k8s: every field checked against the {what}{extra}")
	else:
		print("skip - pkg/k8s schema: python3-kubernetes is not installed")
	return 0


if __name__ == '__main__':
	sys.exit(main())
