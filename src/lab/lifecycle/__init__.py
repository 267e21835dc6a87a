"""LTV as a Markov decision process: which monthly action maximises a customer's discounted lifetime profit?"""
from lab.lifecycle.ope import Truth, evaluate_policy, true_value
from lab.lifecycle.policies import (Episodes, FittedQ, FixedPolicy, GreedyPolicy, History, MonteCarloQ,
                                    PessimisticFittedQ, Policy, logged_episodes)
from lab.lifecycle.structured import ObservedDynamics, RiskThreshold

__all__ = ["Episodes", "FittedQ", "FixedPolicy", "GreedyPolicy", "History", "MonteCarloQ", "ObservedDynamics",
           "PessimisticFittedQ", "Policy", "RiskThreshold", "Truth", "evaluate_policy", "logged_episodes", "true_value"]
