"""How learnable the credit simulator is, and what C2ST says about generators that know the truth.

    python scripts/credit_oracles.py [--rows 20000] [--seed 0]

Prints two tables (Markdown):
1. R^2 of each feature from the 11 true factors: gradient boosting, 3-fold out-of-fold, in the
   transformed [0, 1] space the models train in (section 6.2). The simulator promises >= 0.8 for
   every continuous feature (tests/test_credit.py).
2. C2ST AUC, Train and Test (section 6.3.2 as msbench computes it), for three generators given
   the true factors of fresh rows:
   - `oracle`: the simulator's own conditional distributions (fresh rows from `simulate`);
   - `gaussian sample`: a per-feature gradient-boosting regression of the transformed feature on
     the factors, plus Gaussian noise with its out-of-fold residual spread, clipped to [0, 1] and
     inverted: the best a Gaussian-likelihood decoder that knew the factors could do;
   - `gaussian mean`: the same regression without the noise: decoder means.
"""

import argparse

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import cross_val_predict

from bench.data import load
from bench.data.credit import CATEGORICAL, FEATURES, simulate
from bench.metrics.tabular import CLASSIFIERS, c2st


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="simulated rows (the credit suite's 20,000)")
    parser.add_argument("--seed", type=int, default=0, help="the simulator's seed (the credit suite's 0)")
    args = parser.parse_args()
    data = load("credit", n_rows=args.rows, seed=args.seed)
    x_train = data.train_factors.to_numpy(np.float64)
    rows_train = data.transform(data.train)
    fresh, fresh_factors = simulate(len(data.test), seed=args.seed + 10_000)  # rows the models never saw
    x_fresh = fresh_factors.to_numpy(np.float64)

    r2, means, spread = {}, [], []
    for j, column in enumerate(FEATURES):
        target = rows_train[:, j]
        regressor = HistGradientBoostingRegressor(max_iter=200, random_state=0)
        predicted = cross_val_predict(regressor, x_train, target, cv=3)
        r2[column] = 1 - np.mean((target - predicted) ** 2) / np.var(target)
        spread.append(np.std(target - predicted))
        means.append(regressor.fit(x_train, target).predict(x_fresh))
    means = np.stack(means, axis=1)
    noise = np.random.default_rng(args.seed).normal(0.0, 1.0, means.shape) * np.array(spread)

    print("| feature | kind | R^2 from the true factors |\n| --- | --- | --- |")
    for column, value in r2.items():
        print(f"| {column} | {'categorical' if column in CATEGORICAL else 'continuous'} | {value:.3f} |")

    generators = {"oracle": fresh, "gaussian sample": data.transform.inverse(means + noise),
                  "gaussian mean": data.transform.inverse(means)}
    print("\n| generator | " + " | ".join(f"{c} Train | {c} Test" for c in CLASSIFIERS) + " |")
    print("| --- |" + " --- | --- |" * len(CLASSIFIERS))
    for name, table in generators.items():
        cells = []
        for classifier in CLASSIFIERS:
            result = c2st(data.test, pd.DataFrame(table, columns=FEATURES), classifier, CATEGORICAL, seed=0,
                          real_train=data.train)
            cells += [f"{result['train_auc']:.3f}", f"{result['test_auc']:.3f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
