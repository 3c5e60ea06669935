"""Deployment artifacts for running the stack beyond one laptop: a container image, compose, Kubernetes.

``Dockerfile`` builds one image per service (``--build-arg SERVICE=<name>``), ``compose.yaml`` runs the
five services on one host, ``k8s/`` holds the Kubernetes manifests. All of them run the processes in
container mode (see :mod:`live.common.settings`); :mod:`live.deploy.secrets` writes the secrets a
stack needs, which ``live up`` creates itself on a laptop.
"""
