"""scikit-learn's "Column Transformer with Mixed Types", fitted on passengers.csv."""
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

df = pd.read_csv("passengers.csv")
X, y = df.drop(columns="survived"), df["survived"]
numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
categorical = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                            OneHotEncoder(handle_unknown="ignore"))
model = make_pipeline(ColumnTransformer([("num", numeric, ["age", "fare"]),
                                         ("cat", categorical, ["embarked", "sex", "pclass"])]),
                      LogisticRegression()).fit(X, y)
sio.dump(model, "passengers.skops")
