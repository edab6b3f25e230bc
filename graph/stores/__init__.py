"""Stores of the graph: the embedded networkx + SQLite journal store, and Neo4j."""
