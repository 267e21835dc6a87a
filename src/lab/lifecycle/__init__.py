"""LTV as a Markov decision process: which monthly action maximises a customer's discounted lifetime profit?"""
