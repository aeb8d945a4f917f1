'use strict';
/**
 * Concord operator SDK and scheduler client for Node.js.
 *
 *   const concord = require('@concord/sdk');
 *
 *   class Counter extends concord.Computation {
 *     metadata() {
 *       return { name: 'counter', inputs: [['words', concord.StreamGrouping.GROUP_BY]], outputs: ['counts'] };
 *     }
 *     processRecord(ctx, record) {
 *       ctx.produceRecord('counts', record.key, '1');
 *     }
 *   }
 *
 *   concord.serveComputation(new Counter());
 */
const limits = require('./limits');
const computation = require('./computation');
const { Context, State } = require('./context');
const { ProtocolError } = require('./session');
const { serveComputation, runComputation, grpcAddress } = require('./server');
const schedulerClient = require('./scheduler-client');

module.exports = {
  ...computation,
  Context,
  State,
  ProtocolError,
  serveComputation,
  runComputation,
  grpcAddress,
  SchedulerClient: schedulerClient.SchedulerClient,
  SchedulerError: schedulerClient.SchedulerError,
  specFromDeployObject: schedulerClient.specFromDeployObject,
  defaultToken: schedulerClient.defaultToken,
  limits,
  version: '0.1.0',
};
