"""Flux and Argo CD objects that deliver each environment: `clusters/<env>/`.

They point at the hydrated shards (`hydrated/<env>/<shard>/`, shard.py), not at
`overlays/<env>`: a shard is plain objects, so kustomize has nothing to transform and
every build stays fast however large the project. Per environment, kaosgen.yaml's
`gitops:` block (top-level defaults merged with the environment's own `gitops:`) asks for

- Flux: a `GitRepository` or `OCIRepository` source and `kustomize.toolkit.fluxcd.io/v1`
  Kustomizations (`clusters/<env>/flux.yaml`), after the Namespace they apply into
  (gitops_namespace.py);
- Argo CD: an `Application` per environment (`clusters/<env>/argocd.yaml`), or one
  `ApplicationSet` over every environment (`clusters/argocd-applicationset.yaml`); with
  several shards the Application has one source per shard (`spec.sources`), each built on
  its own by the repo server.

Ordering the GitOps way (ModelAPIs and MCP servers before the agents that need them):

- Argo CD: the sync-wave annotations already on the Deployments (0 for ModelAPIs and MCP
  servers, 1 for agents that wait for their dependencies) order one Application's sync,
  over all its sources.
- Flux applies a Kustomization in one go, so ordering needs several (`ordering: dependsOn`,
  the default). A sharded environment has a Kustomization per shard
  (`<name>-<env>-<shard>`); the agents' shards dependsOn all the others. A one-shard
  environment gets two Kustomizations of the same shard: `<name>-<env>-dependencies`
  applies everything but the agents and waits for it to be ready, `<name>-<env>-agents`
  (dependsOn the first) the agents; each drops the other's objects with a kustomize
  `$patch: delete` selected by the KAOS `app` label (`app=agent` / `app!=agent`), so every
  object belongs to exactly one Kustomization and pruning stays correct.

Objects are plain data written by the same canonical YAML emitter as everything else, so
no user value can inject YAML.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from kaosgen.diagnostics import Diagnostics
from kaosgen.gitops_namespace import delivers_namespace, flux_namespace
from kaosgen.graph import Graph
from kaosgen.models.gitops import ArgoCD, Flux, GitOps
from kaosgen.models.project import Environment, Project
from kaosgen.shard import Shard

FLUX_SOURCE_API = "source.toolkit.fluxcd.io/v1"
FLUX_KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
ARGO_API = "argoproj.io/v1alpha1"
ARGO_FINALIZER = "resources-finalizer.argocd.argoproj.io"
ARGO_SYNC_OPTIONS = ("CreateNamespace=true", "ServerSideApply=true")
IN_CLUSTER = "https://kubernetes.default.svc"
#: Name of the Argo CD Config Management Plugin (plugin.yaml) and the variable it reads.
CMP_NAME = "kaosgen"
CMP_ENV_VAR = "KAOSGEN_ENV"
APPLICATIONSET_FILE = "clusters/argocd-applicationset.yaml"
#: kustomize patch that drops every object it targets (the target selects them).
_DELETE_PATCH = "$patch: delete\napiVersion: v1\nkind: Any\nmetadata:\n  name: any\n"
AGENT_SELECTOR = "app=agent"
NOT_AGENT_SELECTOR = "app!=agent"


# --- configuration ---------------------------------------------------------------------


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def effective(project: Project, env_name: str) -> GitOps | None:
    """The top-level gitops block with the environment's overrides merged in."""
    env = project.environments[env_name]
    if project.gitops is None and env.gitops is None:
        return None
    base = project.gitops.model_dump(exclude_unset=True) if project.gitops else {}
    override = env.gitops.model_dump(exclude_unset=True) if env.gitops else {}
    return GitOps.model_validate(_deep_merge(base, override))


def _enabled_flux(cfg: GitOps | None) -> Flux | None:
    return cfg.flux if cfg is not None and cfg.flux is not None and cfg.flux.enabled else None


def _enabled_argo(cfg: GitOps | None) -> ArgoCD | None:
    return cfg.argocd if cfg is not None and cfg.argocd is not None and cfg.argocd.enabled else None


def delivered_environments(project: Project) -> dict[str, int]:
    """Environment -> shard size, for the environments Flux or Argo CD build from the
    rendered output (not the Argo CD plugin, which runs kaosgen itself)."""
    delivered = {}
    for env_name in sorted(project.environments):
        cfg = _safe_effective(project, env_name)
        argo = _enabled_argo(cfg)
        if cfg is not None and (_enabled_flux(cfg) or (argo is not None and not argo.plugin)):
            delivered[env_name] = cfg.shard_size
    return delivered


def _clean(path: str) -> str:
    """A repository-relative path without `./` (`.` for the root)."""
    norm = posixpath.normpath(path.strip().lstrip("/") or ".")
    return "." if norm in ("", ".") else norm


def output_path(cfg: GitOps, project: Project) -> str:
    """Where the output directory is in the repository."""
    return _clean(cfg.repository.path if cfg.repository.path is not None else project.output)


def project_path(cfg: GitOps, project: Project) -> str:
    """Where kaosgen.yaml is in the repository (the Argo CD plugin's source path)."""
    if cfg.repository.project_path is not None:
        return _clean(cfg.repository.project_path)
    out, rel = output_path(cfg, project), _clean(project.output)
    if rel != "." and (out == rel or out.endswith("/" + rel)):
        return _clean(out[: -len(rel)] or ".")
    return "."


def _join(*parts: str) -> str:
    return _clean(posixpath.join(*parts))


def _flux_path(path: str) -> str:
    return "./" if path == "." else "./" + path


def _location(loaded: Any, env_name: str, *tail: str):
    """The most specific place in kaosgen.yaml that configures this setting."""
    doc = loaded.document
    if doc is None:
        from kaosgen.diagnostics import Location

        return Location(str(loaded.path or "kaosgen.yaml"))
    env = loaded.project.environments.get(env_name)
    if env is not None and env.gitops is not None:
        return doc.location(("environments", env_name, "gitops", *tail))
    return doc.location(("gitops", *tail))


def _where_set(loaded: Any, env_name: str, *tails: tuple[str, ...]):
    """Where the first of the settings `tails` (paths under `gitops`) is written, the
    environment's block before the top-level one; else `_location`."""
    doc = loaded.document
    if doc is not None:
        for tail in tails:
            for path in (("environments", env_name, "gitops", *tail), ("gitops", *tail)):
                if path in doc.values:
                    return doc.location(path)
    return _location(loaded, env_name)


#: The URLs the GitRepository CRD accepts (its `spec.url` pattern).
_GIT_URL = re.compile(r"(http|https|ssh)://")
#: scp-like `user@host:path`, which git accepts and Flux does not.
_SCP_LIKE = re.compile(r"(?P<user>[^@/:]+)@(?P<host>[^:/]+):(?P<path>[^/].*)")


def _git_url_hint(url: str) -> str:
    if (match := _SCP_LIKE.fullmatch(url)) is not None:
        return f"write it as ssh://{match['user']}@{match['host']}/{match['path']}"
    return "use the repository's https:// or ssh:// URL"


# --- check pass ------------------------------------------------------------------------


def check(loaded: Any, diags: Diagnostics, graph: Graph | None = None) -> None:
    """Settings that only make sense together (URLs, refs, ApplicationSet destinations),
    and names Flux can use (with `graph`: the shards it will have)."""
    project: Project = loaded.project
    any_enabled = False
    for env_name in sorted(project.environments):
        try:
            cfg = effective(project, env_name)
        except ValueError as exc:  # a merged combination the models reject
            message = str(exc).splitlines()
            diags.error(
                "gitops-config",
                f"environment {env_name!r}: gitops settings conflict: {message[-1].strip() if message else exc}",
                _location(loaded, env_name),
            )
            continue
        if cfg is None:  # gitops set only in other environments
            continue
        flux, argo = _enabled_flux(cfg), _enabled_argo(cfg)
        any_enabled = any_enabled or bool(flux or argo)
        path = output_path(cfg, project)
        if (flux or argo) and (path == ".." or path.startswith("../")):
            explicit = cfg.repository.path is not None
            diags.error(
                "gitops-path-outside",
                f"environment {env_name!r}: the output's path in the repository ({path!r}) "
                "leaves the repository: Flux and Argo CD read paths from its root",
                _location(loaded, env_name)
                if loaded.document is None
                else loaded.document.location(
                    ("gitops", "repository", "path") if explicit else ("output",)
                ),
                hint="set gitops.repository.path to where the output directory is in the "
                "repository (from its root)",
            )
        if flux is not None:
            _check_flux(loaded, env_name, cfg, flux, diags)
            _check_flux_names(loaded, env_name, cfg, flux, graph, diags)
        if argo is not None and not (argo.repo_url or cfg.repository.url):
            diags.error(
                "gitops-repository",
                f"environment {env_name!r}: Argo CD needs the repository URL",
                _location(loaded, env_name, "argocd"),
                hint="set gitops.repository.url (or gitops.argocd.repoURL)",
            )
    if project.gitops and project.gitops.argocd and project.gitops.argocd.application_set:
        kinds = set()
        for env_name in sorted(project.environments):
            cfg = _safe_effective(project, env_name)
            argo = _enabled_argo(cfg)
            if argo is not None:
                kinds.add("name" if argo.destination.name else "server")
        if len(kinds) > 1:
            diags.error(
                "gitops-applicationset",
                "the ApplicationSet needs the same kind of destination in every environment "
                "(all destination.server or all destination.name)",
                loaded.document.location(("gitops", "argocd"))
                if loaded.document
                else _location(loaded, ""),
            )
    if any_enabled:
        from kaosgen.gitops_paths import check_explicit_paths, repository_root
        from kaosgen.gitops_shared import check_shared_names
        from kaosgen.gitops_sources import check_source_names

        repo = repository_root(Path(loaded.root).resolve()) if loaded.path else None
        _check_repository_root(loaded, repo, diags)
        check_explicit_paths(loaded, repo, diags)
        check_shared_names(loaded, repo, diags)
        check_source_names(loaded, diags)


def _check_flux(loaded: Any, env_name: str, cfg: GitOps, flux: Flux, diags: Diagnostics) -> None:
    source = flux.source
    url = source.url or (cfg.repository.url if source.kind == "GitRepository" else None)
    where = _location(loaded, env_name, "flux")
    if not url:
        diags.error(
            "gitops-repository",
            f"environment {env_name!r}: the Flux {source.kind} needs a URL",
            where,
            hint="set gitops.repository.url"
            if source.kind == "GitRepository"
            else "set gitops.flux.source.url to the oci:// artifact",
        )
        return
    is_oci = url.startswith("oci://")
    if source.kind == "OCIRepository" and not is_oci:
        diags.error(
            "gitops-source",
            f"environment {env_name!r}: an OCIRepository URL starts with oci://",
            where,
        )
    if source.kind == "GitRepository" and is_oci:
        diags.error(
            "gitops-source",
            f"environment {env_name!r}: oci:// URL on a GitRepository",
            where,
            hint="set gitops.flux.source.kind: OCIRepository",
        )
    elif source.kind == "GitRepository" and not _GIT_URL.match(url):
        diags.error(
            "gitops-source",
            f"environment {env_name!r}: Flux's GitRepository takes an http://, https:// or "
            f"ssh:// URL, not {url!r} (the API server refuses the object)",
            _where_set(loaded, env_name, ("flux", "source", "url"), ("repository", "url")),
            hint=_git_url_hint(url),
        )
    ref = source.ref
    if ref is not None:
        allowed = (
            ("tag", "semver", "digest")
            if source.kind == "OCIRepository"
            else ("branch", "tag", "semver", "commit", "name")
        )
        bad = [
            f
            for f in ("branch", "tag", "semver", "commit", "name", "digest")
            if getattr(ref, f) and f not in allowed
        ]
        if bad:
            diags.error(
                "gitops-source",
                f"environment {env_name!r}: {source.kind} ref does not support {', '.join(bad)}",
                where,
                hint=f"use one of {', '.join(allowed)}",
            )


#: Flux labels every object a Kustomization applies with its name
#: (`kustomize.toolkit.fluxcd.io/name`): a label value, at most 63 characters.
FLUX_NAME_MAX = 63


def flux_kustomization_names(
    cfg: GitOps, env_name: str, shard_names: list[str], agents: bool
) -> list[str]:
    """The names `flux_objects` gives an environment's Kustomizations."""
    assert cfg.flux is not None
    base_name = f"{cfg.name}-{env_name}"
    if len(shard_names) > 1:
        return [f"{base_name}-{name}" for name in shard_names]
    if cfg.flux.ordering == "dependsOn" and agents:
        return [f"{base_name}-dependencies", f"{base_name}-agents"]
    return [base_name]


def _check_flux_names(
    loaded: Any, env_name: str, cfg: GitOps, flux: Flux, graph: Graph | None, diags: Diagnostics
) -> None:
    from kaosgen.shard import SINGLE_SHARD, possible_names

    if graph is None:  # no documents: the names of a single shard with agents
        shards, agents = [SINGLE_SHARD], True
    else:
        shards, agents = possible_names(graph, cfg.shard_size), bool(graph.agents)
    names = flux_kustomization_names(cfg, env_name, shards, agents)
    from kaosgen.gitops_refs import check_flux_refs

    check_flux_refs(loaded, env_name, cfg, flux, graph, names, diags)
    longest = max(names, key=len)
    if len(longest) <= FLUX_NAME_MAX:
        return
    doc = loaded.document
    if doc is None:
        where = _location(loaded, env_name)
    elif len(cfg.name) > len(env_name):
        where = _location(loaded, env_name, "name")
    else:
        where = doc.location(("environments", env_name), key=True)
    over = len(longest) - FLUX_NAME_MAX
    diags.error(
        "gitops-name",
        f"environment {env_name!r}: the Flux Kustomization {longest!r} is {len(longest)} "
        f"characters; Flux labels every object it applies with this name "
        f"(kustomize.toolkit.fluxcd.io/name), and a label value has at most "
        f"{FLUX_NAME_MAX}, so every apply would fail",
        where,
        hint=f"shorten the environment name or gitops.name ({cfg.name!r}) by at least "
        f"{over} character{'s' if over > 1 else ''}",
    )


def _safe_effective(project: Project, env_name: str) -> GitOps | None:
    try:
        return effective(project, env_name)
    except ValueError:
        return None


def _check_repository_root(loaded: Any, repo: Path | None, diags: Diagnostics) -> None:
    """Paths in Flux/Argo objects are repository-relative: warn when the guess is wrong."""
    project: Project = loaded.project
    if loaded.path is None or repo is None:
        return
    if project.gitops and project.gitops.repository.path is not None:
        return
    if any(
        env.gitops and env.gitops.repository.path is not None
        for env in project.environments.values()
    ):
        return
    root = Path(loaded.root).resolve()
    if repo == root:
        return
    try:
        suggestion = (root / project.output).resolve().relative_to(repo).as_posix()
    except ValueError:
        suggestion = project.output
    diags.warning(
        "gitops-path",
        "kaosgen.yaml is not at the repository root, so the Flux/Argo CD paths "
        f"({project.output!r}) are probably wrong",
        loaded.document.location(("gitops",), key=True)
        if loaded.document
        else _location(loaded, ""),
        hint=f"set gitops.repository.path: {suggestion}",
    )


# --- objects ---------------------------------------------------------------------------


def _namespace_of(node: Any, env: Environment, flux: Flux | None = None) -> str:
    if flux is not None and flux.target_namespace:
        return flux.target_namespace
    return env.namespace or node.namespace or "default"


def _health_checks(
    nodes: list[Any], env: Environment, flux: Flux, elsewhere: list[Any] = ()
) -> list[dict[str, Any]] | None:
    """The Kustomization's health checks. An explicit check on a workload another of the
    environment's Kustomizations applies (`elsewhere`) is left to that one: the
    dependencies' Kustomization waiting for an agent's Deployment, which only the agents'
    one (dependsOn it) applies, waited forever."""
    if flux.health_checks is None:
        return None
    if flux.health_checks == "workloads":
        checks = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": n.object_name,
                "namespace": _namespace_of(n, env, flux),
            }
            for n in nodes
        ]
    else:
        others = {(n.object_name, _namespace_of(n, env, flux)) for n in elsewhere if n not in nodes}
        checks = []
        for item in flux.health_checks:
            check = {"apiVersion": item.api_version, "kind": item.kind, "name": item.name}
            if item.namespace or env.namespace:
                check["namespace"] = item.namespace or env.namespace
            if (item.api_version, item.kind) == ("apps/v1", "Deployment") and (
                item.name,
                check.get("namespace", "default"),
            ) in others:
                continue
            checks.append(check)
    return sorted(checks, key=lambda c: (c["kind"], c.get("namespace", ""), c["name"])) or None


def flux_source(cfg: GitOps, env_name: str) -> dict[str, Any]:
    flux = cfg.flux
    assert flux is not None
    source = flux.source
    spec: dict[str, Any] = {"interval": source.interval}
    if source.kind == "GitRepository":
        spec["url"] = source.url or cfg.repository.url
        ref = (
            source.ref.model_dump(exclude_none=True)
            if source.ref
            else {"branch": cfg.repository.revision}
        )
    else:
        spec["url"] = source.url
        ref = source.ref.model_dump(exclude_none=True) if source.ref else {"tag": "latest"}
        if source.provider:
            spec["provider"] = source.provider
    spec["ref"] = ref
    if source.secret_ref:
        spec["secretRef"] = {"name": source.secret_ref}
    return {
        "apiVersion": FLUX_SOURCE_API,
        "kind": source.kind,
        "metadata": {"name": source.name or f"{cfg.name}-{env_name}", "namespace": flux.namespace},
        "spec": spec,
    }


def _flux_kustomization(
    cfg: GitOps,
    env_name: str,
    env: Environment,
    project: Project,
    *,
    name: str,
    shard: str,
    nodes: list[Any],
    drop: str | None,
    depends_on: list[str],
    elsewhere: list[Any] = (),
) -> dict[str, Any]:
    flux = cfg.flux
    assert flux is not None
    source = flux.source
    base = (
        source.path
        if source.path is not None
        else ("." if source.kind == "OCIRepository" else output_path(cfg, project))
    )
    spec: dict[str, Any] = {"interval": flux.interval}
    if flux.retry_interval:
        spec["retryInterval"] = flux.retry_interval
    spec["timeout"] = flux.timeout
    spec["path"] = _flux_path(_join(_clean(base), shard))
    spec["prune"] = flux.prune
    spec["sourceRef"] = {"kind": source.kind, "name": source.name or f"{cfg.name}-{env_name}"}
    target_ns = flux.target_namespace or env.namespace
    if target_ns:
        spec["targetNamespace"] = target_ns
    if depends_on:
        spec["dependsOn"] = [{"name": d} for d in depends_on]
    checks = _health_checks(nodes, env, flux, elsewhere)
    explicit = isinstance(flux.health_checks, list)  # their objects are applied elsewhere
    wait = flux.wait if flux.wait is not None else checks is None and not explicit
    spec["wait"] = wait
    if checks and not wait:
        spec["healthChecks"] = checks
    if flux.service_account_name:
        spec["serviceAccountName"] = flux.service_account_name
    if flux.decryption is not None:
        decryption: dict[str, Any] = {"provider": flux.decryption.provider}
        if flux.decryption.secret_ref:
            decryption["secretRef"] = {"name": flux.decryption.secret_ref}
        spec["decryption"] = decryption
    if drop:
        spec["patches"] = [{"patch": _DELETE_PATCH, "target": {"labelSelector": drop}}]
    return {
        "apiVersion": FLUX_KUSTOMIZE_API,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": flux.namespace},
        "spec": spec,
    }


def flux_objects(
    cfg: GitOps, env_name: str, project: Project, shards: list[Shard]
) -> list[dict[str, Any]]:
    flux = cfg.flux
    assert flux is not None
    env = project.environments[env_name]
    objects = [flux_source(cfg, env_name)]
    target_ns = flux.target_namespace or env.namespace
    if target_ns and not delivers_namespace(shards):
        objects.insert(0, flux_namespace(target_ns))
    base_name = f"{cfg.name}-{env_name}"
    ordered = flux.ordering == "dependsOn"
    everything = [n for s in shards for n in s.nodes]

    def kustomization(
        name: str,
        shard: Shard,
        nodes: list[Any],
        drop: str | None = None,
        depends_on: list[str] | tuple[str, ...] = (),
    ) -> dict[str, Any]:
        return _flux_kustomization(
            cfg,
            env_name,
            env,
            project,
            name=name,
            shard=shard.path(env_name),
            nodes=nodes,
            drop=drop,
            depends_on=list(depends_on),
            elsewhere=everything,
        )

    if len(shards) == 1:
        (shard,) = shards
        agents = [n for n in shard.nodes if n.kind == "Agent"]
        deps = [n for n in shard.nodes if n.kind != "Agent"]
        if ordered and agents:
            first = f"{base_name}-dependencies"
            objects.append(kustomization(first, shard, deps, AGENT_SELECTOR, flux.depends_on))
            objects.append(
                kustomization(f"{base_name}-agents", shard, agents, NOT_AGENT_SELECTOR, [first])
            )
        else:
            objects.append(kustomization(base_name, shard, shard.nodes, None, flux.depends_on))
        return objects
    dependencies = [f"{base_name}-{s.name}" for s in shards if s.role != "agents"]
    for shard in shards:
        waits = dependencies if ordered and shard.role == "agents" else flux.depends_on
        objects.append(kustomization(f"{base_name}-{shard.name}", shard, shard.nodes, None, waits))
    return objects


def _argo_source(
    cfg: GitOps, argo: ArgoCD, project: Project, *, env: str, path: str, revision: str, repo: str
) -> dict[str, Any]:
    source: dict[str, Any] = {"repoURL": repo, "targetRevision": revision, "path": path}
    if argo.plugin:
        source["plugin"] = {"name": CMP_NAME, "env": [{"name": CMP_ENV_VAR, "value": env}]}
    return source


def _argo_paths(
    cfg: GitOps, argo: ArgoCD, project: Project, env_name: str, shards: list[Shard]
) -> list[str]:
    """The source paths: the project (the plugin) or every shard of the environment."""
    if argo.plugin:
        return [project_path(cfg, project)]
    return [_join(output_path(cfg, project), s.path(env_name)) for s in shards]


def _sync_policy(argo: ArgoCD) -> dict[str, Any]:
    options = list(ARGO_SYNC_OPTIONS)
    options.extend(o for o in argo.sync_options if o not in options)
    return {"automated": {"prune": argo.prune, "selfHeal": argo.self_heal}, "syncOptions": options}


def _destination(argo: ArgoCD, env: Environment) -> dict[str, Any]:
    dest: dict[str, Any] = {}
    if argo.destination.name:
        dest["name"] = argo.destination.name
    else:
        dest["server"] = argo.destination.server or IN_CLUSTER
    namespace = argo.destination.namespace or env.namespace
    if namespace:
        dest["namespace"] = namespace
    return dest


def _argo_metadata(name: str, argo: ArgoCD, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if argo.cascade_delete:
        meta["finalizers"] = [ARGO_FINALIZER]
    return meta


def argo_application(
    cfg: GitOps, env_name: str, project: Project, shards: list[Shard]
) -> dict[str, Any]:
    argo = cfg.argocd
    assert argo is not None
    env = project.environments[env_name]
    sources = [
        _argo_source(
            cfg,
            argo,
            project,
            env=env_name,
            path=path,
            revision=argo.target_revision or cfg.repository.revision,
            repo=argo.repo_url or cfg.repository.url or "",
        )
        for path in _argo_paths(cfg, argo, project, env_name, shards)
    ]
    spec: dict[str, Any] = {"project": argo.project}
    if len(sources) == 1:
        spec["source"] = sources[0]
    else:
        spec["sources"] = sources
    spec["destination"] = _destination(argo, env)
    spec["syncPolicy"] = _sync_policy(argo)
    return {
        "apiVersion": ARGO_API,
        "kind": "Application",
        "metadata": _argo_metadata(f"{cfg.name}-{env_name}", argo, argo.namespace),
        "spec": spec,
    }


#: With several shards, the ApplicationSet's template gets one source per path of the
#: element. Values are written with toJson, so no value can inject YAML.
_SOURCES_PATCH = """\
spec:
  sources:
  {{- range .paths }}
  - repoURL: {{ $.repoURL | toJson }}
    targetRevision: {{ $.revision | toJson }}
    path: {{ . | toJson }}
  {{- end }}
"""


def argo_applicationset(
    project: Project, envs: list[tuple[str, GitOps]], shards: dict[str, list[Shard]]
) -> dict[str, Any]:
    """One ApplicationSet; everything that varies per environment is a list element."""
    top = project.gitops
    assert top is not None and top.argocd is not None
    argo = top.argocd
    by_name = any(cfg.argocd.destination.name for _, cfg in envs if cfg.argocd)
    elements = []
    paths_by_env: list[list[str]] = []
    for env_name, cfg in envs:
        env_argo = cfg.argocd
        assert env_argo is not None
        env = project.environments[env_name]
        dest = _destination(env_argo, env)
        paths = _argo_paths(cfg, env_argo, project, env_name, shards.get(env_name, []))
        paths_by_env.append(paths)
        element = {
            "env": env_name,
            "project": env_argo.project,
            "repoURL": env_argo.repo_url or cfg.repository.url or "",
            "revision": env_argo.target_revision or cfg.repository.revision,
            "path": paths[0],
            "paths": paths,
            "namespace": dest.get("namespace", ""),
        }
        element["cluster" if by_name else "server"] = dest.get("name") or dest.get("server", "")
        elements.append(element)
    source: dict[str, Any] = {
        "repoURL": "{{.repoURL}}",
        "targetRevision": "{{.revision}}",
        "path": "{{.path}}",
    }
    if argo.plugin:
        source["plugin"] = {"name": CMP_NAME, "env": [{"name": CMP_ENV_VAR, "value": "{{.env}}"}]}
    destination = {"name": "{{.cluster}}"} if by_name else {"server": "{{.server}}"}
    destination["namespace"] = "{{.namespace}}"
    several = any(len(paths) > 1 for paths in paths_by_env)
    for element in elements:
        if several:
            del element["path"]
        else:
            del element["paths"]
    template_meta: dict[str, Any] = {"name": f"{top.name}-{{{{.env}}}}"}
    if argo.cascade_delete:
        template_meta["finalizers"] = [ARGO_FINALIZER]
    template_spec: dict[str, Any] = {"project": "{{.project}}"}
    if not several:
        template_spec["source"] = source
    template_spec["destination"] = destination
    template_spec["syncPolicy"] = _sync_policy(argo)
    spec: dict[str, Any] = {
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{"list": {"elements": elements}}],
        "template": {"metadata": template_meta, "spec": template_spec},
    }
    if several:
        spec["templatePatch"] = _SOURCES_PATCH
    return {
        "apiVersion": ARGO_API,
        "kind": "ApplicationSet",
        "metadata": {"name": top.name, "namespace": argo.namespace},
        "spec": spec,
    }


def cluster_files(
    graph: Graph, project: Project, shards: dict[str, list[Shard]]
) -> dict[str, list[dict[str, Any]]]:
    """`clusters/<env>/flux.yaml`, `clusters/<env>/argocd.yaml`, the ApplicationSet.
    `shards`: each delivered environment's shards (shard.plan)."""
    files: dict[str, list[dict[str, Any]]] = {}
    use_set = bool(
        project.gitops and project.gitops.argocd and project.gitops.argocd.application_set
    )
    set_envs: list[tuple[str, GitOps]] = []
    for env_name in sorted(project.environments):
        cfg = _safe_effective(project, env_name)
        if cfg is None:
            continue
        env_shards = shards.get(env_name, [])
        if _enabled_flux(cfg) is not None:
            files[f"clusters/{env_name}/flux.yaml"] = flux_objects(
                cfg, env_name, project, env_shards
            )
        if _enabled_argo(cfg) is not None:
            if use_set:
                set_envs.append((env_name, cfg))
            else:
                files[f"clusters/{env_name}/argocd.yaml"] = [
                    argo_application(cfg, env_name, project, env_shards)
                ]
    if set_envs:
        files[APPLICATIONSET_FILE] = [argo_applicationset(project, set_envs, shards)]
    return files
