"""`kaosgen up`: run a project's rendered environment as local processes.

The steps are small modules, each taking data and returning data, like the pipeline:

    render     → the environment's objects, exactly as `kubectl kustomize` builds them
    values     → the ConfigMaps and Secrets a pod may read (project, caller, --env-file)
    plan       → one local process per Deployment: argv, env (`$(VAR)` expanded,
                 `valueFrom` resolved), mounted files, readiness check, dependencies
    models     → how each ModelAPI runs here (LiteLLM proxy, ollama, llama.cpp, a URL)
    supervisor → start in dependency order, wait for readiness, prefix logs, stop cleanly
    smoke      → one chat completion per exposed agent (`--smoke`)
"""
