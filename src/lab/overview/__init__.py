"""The world tour (notebook 00): funnel, regime drift, the user-user graph and treatment balance of the
data every study runs on. ``study`` holds the notebook's ``Config``, ``run`` and ``verdict``, ``plots`` its
figures; the summaries themselves are ``lab.data.summary``'s."""
