/**
 * deploy/kubernetes/ against what canaryd reads. No cluster runs here: each layout's manifests are parsed,
 * the ConfigMap's canaryd.yaml is validated by the real config loader with the container's env and the
 * image's ENV, a real canaryd is started from it (ports moved to 127.0.0.1:0) to answer the probe and scrape
 * paths, and args, ports, mounts, env names, security context and grace period are checked against the code.
 */
import t from 'tap';
import { readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CONFIG_PATH_ENV, ENV_DEFAULTS, listenSettings, parseConfigText, splitHostPort, type Config } from '../config/index.js';
import { startSidecar, tempDir } from './helpers/canaryd.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { readImageSpec } from './helpers/dockerfile.js';

const ROOT = 'deploy/kubernetes';
type K8s = Record<string, any>;

const image = readImageSpec();
/** Env names the code reads directly (config/env.ts, cli/), beside ${VAR}s the config file references. */
const READ_BY_CODE = new Set<string>([...Object.keys(ENV_DEFAULTS), CONFIG_PATH_ENV, 'NODE_ENV', 'CANARYD_ADMIN_TOKEN']);

function load(dir: string): { kustomization: K8s; docs: K8s[]; files: string[] } {
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  const kustomization = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0].toJS() as K8s;
  const docs: K8s[] = [];
  for (const f of files.filter((f) => f !== 'kustomization.yaml')) {
    for (const d of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      if (d.errors.length > 0) throw new Error(`${dir}/${f}: ${d.errors[0].message}`);
      const js = d.toJS() as K8s | null;
      if (js) docs.push(js);
    }
  }
  return { kustomization, docs, files };
}

const refs = (text: string) =>
  [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)].map((m) => ({ name: m[1], hasDefault: m[2] !== undefined }));
const underMount = (path: string, mount: string) => path === mount || path.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
const portOf = (listen: Config['listen']) => splitHostPort(listenSettings(listen).address).port;

const layouts = readdirSync(ROOT).filter((d) => existsSync(join(ROOT, d, 'kustomization.yaml')));

t.test('both layouts are shipped', async (t) => {
  t.ok(layouts.includes('standalone') && layouts.includes('sidecar'), `layouts: ${layouts.join(', ')}`);
});

for (const layout of layouts) {
  t.test(`deploy/kubernetes/${layout}`, async (t) => {
    const dir = join(ROOT, layout);
    const { kustomization, docs, files } = load(dir);
    t.same(
      [...(kustomization.resources as string[])].sort(),
      files.filter((f) => f !== 'kustomization.yaml').sort(),
      'the kustomization lists every manifest in the directory',
    );
    const kinds = (k: string) => docs.filter((d) => d.kind === k);
    const [deploy] = kinds('Deployment');
    t.ok(deploy, 'a Deployment');
    if (layout === 'standalone') t.equal(deploy.spec.replicas, 2, 'canaryd runs 2 replicas');
    const pod = deploy.spec.template.spec;
    const c = (pod.containers as K8s[]).find((x) => x.name === 'canaryd')!;
    t.ok(c, 'a canaryd container');
    if (layout === 'sidecar') t.ok(pod.containers.length > 1, 'beside the app container');

    // --- args: the image ENTRYPOINT is canaryd; args replace CMD and must be what the CLI parses ---
    t.equal(c.command, undefined, 'the image ENTRYPOINT is kept (no command:)');
    t.equal(c.args[0], image.cmd[0], `args start with the image CMD's subcommand (${image.cmd[0]})`);
    const ci = (c.args as string[]).indexOf('--config');
    t.ok(ci > 0, 'args name --config');
    const configPath: string = c.args[ci + 1];

    // --- the config file: a ConfigMap key under a directory mount (no subPath, so updates arrive) ---
    const mounts = c.volumeMounts as K8s[];
    const configMount = mounts.find((m) => underMount(configPath, m.mountPath))!;
    t.ok(configMount, `${configPath} is under a volume mount`);
    t.equal(configMount.subPath, undefined, 'the config is not a subPath mount (a subPath never sees ConfigMap updates)');
    t.equal(configMount.readOnly, true, 'the config mount is read-only');
    const configVolume = (pod.volumes as K8s[]).find((v) => v.name === configMount.name)!;
    const cm = kinds('ConfigMap').find((x) => x.metadata.name === configVolume.configMap?.name)!;
    t.ok(cm, `the config volume is the ConfigMap ${configVolume.configMap?.name}`);
    const key = posix.relative(configMount.mountPath, configPath);
    const text: string = cm.data[key];
    t.type(text, 'string', `the ConfigMap has the key ${key}`);

    // --- env: every name set is read by the code or the config; every ${VAR} the config needs is set ---
    const envNames = ((c.env ?? []) as K8s[]).map((e) => e.name as string);
    const configRefs = refs(text);
    for (const n of envNames) t.ok(READ_BY_CODE.has(n) || configRefs.some((r) => r.name === n), `env ${n} is read by canaryd`);
    for (const r of configRefs)
      if (!r.hasDefault)
        t.ok(envNames.includes(r.name) || image.env[r.name] !== undefined, `\${${r.name}} in the config is set in the container env`);
    for (const e of (c.env ?? []) as K8s[]) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref)
        t.match(
          readFileSync(join(dir, 'kustomization.yaml'), 'utf8'),
          new RegExp(`create secret generic ${ref.name} --from-literal=${ref.key}=`),
          `the Secret ${ref.name} is created as the kustomization says`,
        );
    }
    const env: NodeJS.ProcessEnv = { ...image.env };
    for (const e of (c.env ?? []) as K8s[]) env[e.name] = e.value ?? `from-${e.valueFrom?.secretKeyRef?.name ?? 'ref'}-`.padEnd(40, 'x'); // a Secret's value: long enough for the ≥ 32-byte rule off loopback
    const config: Config = parseConfigText(text, env, `${dir}/${cm.metadata.name}`);
    t.pass('the ConfigMap config is valid for the real loader');

    // --- ports ---
    const ports = Object.fromEntries((c.ports as K8s[]).map((p) => [p.name, p.containerPort as number]));
    t.equal(ports.http, portOf(config.listen), `containerPort http = listen (${config.listen})`);
    t.equal(ports.admin, portOf(config.admin.listen), `containerPort admin = admin.listen (${config.admin.listen})`);
    t.equal(splitHostPort(config.admin.listen).host, '0.0.0.0', 'the admin listens on the pod IP, where the kubelet probes');
    const resolvePort = (p: string | number) => (typeof p === 'number' ? p : ports[p]);
    for (const svc of kinds('Service'))
      for (const p of svc.spec.ports as K8s[])
        t.ok(resolvePort(p.targetPort) !== undefined, `Service ${svc.metadata.name} targetPort ${p.targetPort} is a container port`);

    // --- probes and scrape annotations ---
    t.equal(c.livenessProbe.httpGet.path, '/healthz', 'liveness on /healthz');
    t.equal(c.readinessProbe.httpGet.path, '/readyz', 'readiness on /readyz');
    t.equal(resolvePort(c.livenessProbe.httpGet.port), ports.admin, 'liveness on the admin port');
    t.equal(resolvePort(c.readinessProbe.httpGet.port), ports.admin, 'readiness on the admin port');
    const ann = deploy.spec.template.metadata.annotations ?? {};
    t.equal(ann['prometheus.io/scrape'], 'true', 'pods carry scrape annotations');
    t.equal(Number(ann['prometheus.io/port']), ports.admin, 'scrape port = the admin port (where /metrics is)');

    // A real canaryd from this config (listeners moved to loopback port 0, state to a temp dir) answers them.
    const baseline = await startEchoUpstream('baseline');
    const canary = await startEchoUpstream('canary');
    const stateDir = tempDir('canaryd-k8s-');
    const local =
      text
        .replace(/^listen: .*$/m, 'listen: 127.0.0.1:0')
        .replace(/^( {2}listen: ).*$/m, '$1"127.0.0.1:0"')
        .replace(/^( {2}baseline: \{ url: )"[^"]*"/m, `$1"${baseline.url}"`)
        .replace(/^( {2}canary: \{ url: )"[^"]*"/m, `$1"${canary.url}"`)
        .replace(/^state: .*$/m, `state: { dir: "${stateDir}" }`)
        .replace(/^log: .*$/m, '') + 'log: { level: silent }\n';
    const running = await startSidecar(local.replace(/\$\{CANARYD_ADMIN_TOKEN\}/g, 'test-token'));
    t.teardown(async () => {
      await running.stop();
      await Promise.all([baseline.close(), canary.close()]);
      rmSync(stateDir, { recursive: true, force: true });
    });
    for (const path of [c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path, ann['prometheus.io/path']]) {
      const res = await fetch(`${running.adminUrl}${path}`);
      t.equal(res.status, 200, `GET ${path} on the admin answers 200`);
      await res.arrayBuffer();
    }

    // --- a writable state.dir under a read-only root ---
    const sc = c.securityContext;
    t.equal(sc.readOnlyRootFilesystem, true, 'read-only root filesystem');
    t.equal(sc.allowPrivilegeEscalation, false, 'no privilege escalation');
    t.same(sc.capabilities?.drop, ['ALL'], 'all capabilities dropped');
    t.equal(pod.securityContext?.runAsNonRoot ?? sc.runAsNonRoot, true, 'runAsNonRoot');
    t.ok(config.state.dir.startsWith('/'), `state.dir is absolute (${config.state.dir}): a relative one lands in the read-only workdir`);
    const stateMount = mounts.find((m) => underMount(config.state.dir, m.mountPath));
    t.ok(stateMount && !stateMount.readOnly, `state.dir ${config.state.dir} is under a writable mount`);
    const stateVolume = (pod.volumes as K8s[]).find((v) => v.name === stateMount?.name);
    t.ok(stateVolume && (stateVolume.emptyDir || stateVolume.persistentVolumeClaim), 'backed by an emptyDir or a PVC');
    t.notOk(
      mounts.some(
        (m) => m !== stateMount && underMount(config.state.dir, m.mountPath) && m.mountPath.length > stateMount!.mountPath.length,
      ),
      'no read-only mount shadows it',
    );
    t.equal(dirname(configPath), configMount.mountPath, 'the config file sits at the top of its mount');

    // --- resources, shutdown ---
    t.ok(
      c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory,
      'cpu/memory requests and a memory limit',
    );
    const preStop: string[] = c.lifecycle?.preStop?.exec?.command ?? [];
    const preStopSeconds = preStop[0] === 'sleep' ? Number(preStop[1]) : (c.lifecycle?.preStop?.sleep?.seconds ?? 0);
    t.ok(preStopSeconds > 0, `a preStop pause (${preStopSeconds} s) while endpoints update`);
    t.ok(
      pod.terminationGracePeriodSeconds > preStopSeconds + config.shutdown.drainTimeout / 1000,
      `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${preStopSeconds} s + drain ${config.shutdown.drainTimeout / 1000} s`,
    );
    const [pdb] = kinds('PodDisruptionBudget');
    t.ok(pdb, 'a PodDisruptionBudget');
    t.same(pdb.spec.selector.matchLabels, deploy.spec.selector.matchLabels, 'the PDB selects the Deployment pods');
  });
}
