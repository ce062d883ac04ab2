//! The real `stockade` binary as a user runs it, one test binary: verbs and
//! exit codes (`commands`), `top` in a pseudo-terminal (`top`), `exec -it`
//! in one (`exec`), the kill -9 recovery proof (`recovery`), adoption across
//! daemon deaths (`survival`), planned stops (`lifecycle`) and the chaos
//! suite (`chaos`). `support`
//! starts daemon processes.

mod chaos;
mod commands;
mod exec;
mod lifecycle;
mod logs;
mod recovery;
mod support;
mod survival;
mod top;
