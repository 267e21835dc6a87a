"""lab: a research workbench for growth marketing in consumer finance."""
__version__ = "0.1.0"
