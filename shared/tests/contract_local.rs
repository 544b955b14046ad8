//! The backend contract on the embedded backend (SQLite, files, SQLite queue).

pipeline::backend_contract!(pipeline::testing::local_backend);
