"""An independent pandas implementation of the gold KPIs, used to check the dbt models."""
