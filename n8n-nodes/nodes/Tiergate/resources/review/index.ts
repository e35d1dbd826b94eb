import type { INodeProperties } from 'n8n-workflow';
import { reviewDecideDescription } from './decide';
import { reviewGetPendingDescription } from './getPending';

const showOnlyForReviews = {
	resource: ['review'],
};

export const reviewDescription: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: showOnlyForReviews },
		options: [
			{
				name: 'Decide',
				value: 'decide',
				action: 'Decide a review',
				description: 'Approve (optionally with edited text), reject or re-run a held draft',
				routing: {
					request: {
						method: 'POST',
						url: '=/v1/reviews/{{ encodeURIComponent($parameter.reviewId) }}/decision',
					},
				},
			},
			{
				name: 'Get Pending',
				value: 'getPending',
				action: 'List pending reviews',
				description: 'List the drafts and labels waiting for a person, one item each',
				routing: {
					request: { method: 'GET', url: '/v1/reviews', qs: { status: 'pending' } },
					output: { postReceive: [{ type: 'rootProperty', properties: { property: 'items' } }] },
				},
			},
		],
		default: 'getPending',
	},
	...reviewGetPendingDescription,
	...reviewDecideDescription,
];
