"""Budget allocation over offers as a multiple-choice knapsack: Lagrangian dual at scale, exact MILP
(HiGHS) as the check, greedy and random baselines, and value tables from response models, uplift
learners or the simulated world's truth. ``study`` holds the notebook's ``Config``, ``run`` and ``verdict``,
``plots`` its figures."""
from lab.allocate.solvers import (NOTHING, Allocation, Problem, evaluate, is_feasible, make_problem,
                                  solve_dual, solve_greedy, solve_lp, solve_milp, solve_random)
from lab.allocate.values import (COST, OBJECTIVES, VALUE, customer_values, default_probabilities,
                                 objective_values, offers_of, oracle_values, read_values, response_values,
                                 synthetic_values, ticket_values, to_problem, true_defaults,
                                 true_incremental_profit, true_incremental_value, uplift_values, validate_values)

__all__ = [
    "COST", "NOTHING", "OBJECTIVES", "VALUE", "Allocation", "customer_values", "default_probabilities", "evaluate",
    "is_feasible", "make_problem", "objective_values", "offers_of", "oracle_values", "Problem", "read_values",
    "response_values", "solve_dual", "solve_greedy", "solve_lp", "solve_milp", "solve_random", "synthetic_values",
    "ticket_values", "to_problem", "true_defaults", "true_incremental_profit", "true_incremental_value",
    "uplift_values", "validate_values",
]
