package server

var IsDoneForTest = isDone
