"""Load forecasting: pure numerical code, no I/O. Histories arrive as arrays on a fixed grid;
forecasts leave as point values with calibrated intervals over the horizon."""
