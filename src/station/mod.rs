//! The provisioning station: pipeline, journal, PIN policy and the three modes.
