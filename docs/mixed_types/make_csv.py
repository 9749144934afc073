"""Writes passengers.csv: the rows of the README's mixed-types example (seeded, with empty
cells for missing numbers and missing text)."""
import numpy as np
import pandas as pd

rng = np.random.default_rng(0)
n = 300
df = pd.DataFrame({"age": rng.normal(35, 12, n).round(1), "fare": rng.exponential(30, n).round(2),
                   "embarked": rng.choice(["C", "Q", "S"], n), "sex": rng.choice(["female", "male"], n),
                   "pclass": rng.choice([1, 2, 3], n)})
df.loc[rng.random(n) < 0.15, "age"] = np.nan
df.loc[rng.random(n) < 0.1, "embarked"] = None
df["survived"] = ((df.sex == "female") | (df.fare > 40)).astype(int)
df.to_csv("passengers.csv", index=False)
