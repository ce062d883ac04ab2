//! The real `stockade` binary as a user runs it, one test binary: verbs and
//! exit codes (`commands`), `top` in a pseudo-terminal (`top`), `exec -it`
//! in one (`exec`), the kill -9 recovery proof (`recovery`), adoption across
//! daemon deaths (`survival`), planned stops (`lifecycle`) and the chaos
//! suite (`chaos`), the day-two verbs and the defects found in use
//! (`day_two`), a scale and a stopped replica across daemon restarts
//! (`kept`), `up` in an 80×24 pseudo-terminal (`up_pty`). `support`
//! starts daemon processes.

mod chaos;
mod cluster;
mod commands;
mod day_two;
mod exec;
mod kept;
mod lifecycle;
mod logs;
mod recovery;
mod reload;
mod schedules;
mod support;
mod support_boxes;
mod support_env;
mod support_http;
mod survival;
mod top;
mod up_pty;
