//! The backend contract against the AWS backend on a moto server.

use pipeline::testing::moto::moto_backend;

pipeline::backend_contract!(moto_backend);
