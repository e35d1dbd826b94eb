import type { INodeProperties } from 'n8n-workflow';
import { awaitQueuedAnswer, simplifyFallbackAnswer } from '../../shared/transport';
import { classifyDescription } from './classify';
import { routeDescription } from './route';
import { runAndWaitForReviewDescription } from './runAndWaitForReview';
import { runWithFallbackDescription } from './runWithFallback';

const showOnlyForTasks = {
	resource: ['task'],
};

export const taskDescription: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: showOnlyForTasks },
		options: [
			{
				name: 'Classify',
				value: 'classify',
				action: 'Label a list of items',
				description:
					'Label all incoming items in one request and put label, confidence and needs_review on each',
			},
			{
				name: 'Route',
				value: 'route',
				action: 'Decide the tier for a task',
				description: 'Get the tier, model, reasons and estimated cost without running the task',
				routing: { request: { method: 'POST', url: '/v1/route' } },
			},
			{
				name: 'Run and Wait for Review',
				value: 'runAndWaitForReview',
				action: 'Run a task and wait for the reviewer',
				description:
					'Run through the cascade; when the answer is held for review, pause until a reviewer approves, edits or rejects it',
			},
			{
				name: 'Run With Fallback',
				value: 'runWithFallback',
				action: 'Run a task through the cascade',
				description:
					'Run on the cheapest tier, check the answer, escalate when the check fails, hold risky output for review',
				routing: {
					request: { method: 'POST', url: '/v1/fallback' },
					output: { postReceive: [awaitQueuedAnswer, simplifyFallbackAnswer] },
				},
			},
		],
		default: 'runWithFallback',
	},
	...classifyDescription,
	...routeDescription,
	...runWithFallbackDescription,
	...runAndWaitForReviewDescription,
];
