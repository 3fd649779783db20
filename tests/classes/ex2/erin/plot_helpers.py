"""Plots I used while working on ex2 (not part of the submission)."""

import matplotlib.pyplot as plt


def plot_history(history):
    plt.plot(history)
    plt.xlabel("epoch")
    plt.ylabel("loss")
    plt.show()
