"""Secure aggregation (SecAgg+ with distributed discrete Gaussian noise): the server side and a reference client."""
