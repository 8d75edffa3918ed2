// Conversions between the link's messages (link/messages.h) and their wire
// form (proto/gpulse.proto): the one place where a Register, Heartbeat,
// TaskUpdate, LogChunk, Registered, Assign or Cancel is built or read. Both
// ends use them — the worker agent to send what it knows and read what the
// master says, the master's gRPC service the other way round — so the two
// cannot disagree about a field.
//
// Free functions, no state; thread-safe. Reading never fails: a field the
// wire leaves unset reads as the .proto's default (an unknown task update
// kind reads as kFailedToStart, saying so in its message).
#pragma once

#include "link/messages.h"
#include "proto/gpulse.pb.h"  // generated into the build tree

namespace gpulse::proto {

// Worker -> master.
void ToProto(const link::Registration& in, gpulse::v1::Register* out);
link::Registration FromProto(const gpulse::v1::Register& in);

// The sample (FillHeartbeat), sequence number, send time and running tasks.
void ToProto(const link::Heartbeat& in, gpulse::v1::Heartbeat* out);
link::Heartbeat FromProto(const gpulse::v1::Heartbeat& in);

void ToProto(const link::TaskUpdate& in, gpulse::v1::TaskUpdate* out);
link::TaskUpdate FromProto(const gpulse::v1::TaskUpdate& in);

void ToProto(const link::LogChunk& in, gpulse::v1::LogChunk* out);
link::LogChunk FromProto(const gpulse::v1::LogChunk& in);

// Master -> worker.
void ToProto(const link::Registered& in, gpulse::v1::Registered* out);
link::Registered FromProto(const gpulse::v1::Registered& in);

void ToProto(const link::Assignment& in, gpulse::v1::Assign* out);
link::Assignment FromProto(const gpulse::v1::Assign& in);

void ToProto(const link::TaskUpdateAck& in, gpulse::v1::TaskUpdateAck* out);
link::TaskUpdateAck FromProto(const gpulse::v1::TaskUpdateAck& in);

void ToProto(const link::OutputRefused& in, gpulse::v1::OutputRefused* out);
link::OutputRefused FromProto(const gpulse::v1::OutputRefused& in);

void ToProto(const link::Cancel& in, gpulse::v1::Cancel* out);
link::Cancel FromProto(const gpulse::v1::Cancel& in);

}  // namespace gpulse::proto
