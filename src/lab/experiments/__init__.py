"""The A/B testing study: design, checks, read-out and sequential monitoring of randomised tests
(``lab.experiments.abtest``), run as a study by ``lab.experiments.study``."""
