"""The router: which experts a query needs."""

NAME = "router"  # its name in the registry (light: the Ingress imports it without torch)
